// What every benchmark's main() does once its options are parsed: clean up on exit and on
// SIGINT/SIGTERM (temp dirs, server processes), run, and on failure print the error with its chain
// of causes (fetch() alone says only "fetch failed") and return a non-zero exit code.

export interface BenchResources {
  /** Set by the signal handler; a run that fails after it is not reported as a failure. */
  interrupted: NodeJS.Signals | undefined;
  cleanup(): Promise<void>;
  /** Last resort from a process 'exit' handler, where nothing asynchronous runs any more. */
  cleanupNow(): void;
}

export async function runBenchmark<R extends BenchResources>(
  resources: R,
  run: (resources: R) => Promise<void>,
  options: {
    progress: (message: string) => void;
    /** What stopping means here, e.g. "stopping the registries". */
    stopping?: string;
    /** A better explanation of a failure, if the resources have one (a crashed server). */
    explain?: (error: unknown, resources: R) => unknown;
  },
): Promise<number> {
  process.on('exit', () => resources.cleanupNow());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      resources.interrupted = signal;
      options.progress(`${signal}: ${options.stopping ?? 'stopping'}`);
      void resources.cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  try {
    await run(resources);
    return 0;
  } catch (error) {
    if (resources.interrupted) return 1; // the signal handler exits with its own code
    const failure = options.explain ? options.explain(error, resources) : error;
    process.stderr.write(
      `\nbenchmark failed: ${failure instanceof Error ? failure.message : String(failure)}\n`,
    );
    for (
      let cause = failure instanceof Error ? failure.cause : undefined;
      cause instanceof Error;
      cause = cause.cause
    ) {
      process.stderr.write(`  cause: ${cause.message}\n`);
    }
    return 1;
  } finally {
    await resources.cleanup();
  }
}
