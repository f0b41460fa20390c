// `palisade events subscriptions create|list|show|delete|redeliver`: manage where an
// organization's events are delivered, and see how far behind each sink is.
import { Command, InvalidArgumentError } from 'commander';
import type { SubscriptionView } from '../delivery/service.js';
import { api, ApiClient, print, repeatable, type ApiFlags } from './api-client.js';

const API = '/api/v1/events/subscriptions';

function rows(views: SubscriptionView[]) {
  return views.map((s) => ({
    id: s.id,
    org: s.org ?? '(all)',
    sink: s.sink_url,
    types: s.types.length > 0 ? s.types : '(all)',
    status: s.status,
    delivered: s.delivered_total,
    lag: `${s.lag.events} events, ${Math.round(s.lag.seconds)} s`,
    last_error: s.last_error ?? '',
  }));
}

function sequence(value: string): number {
  if (!/^[1-9]\d{0,14}$/.test(value)) throw new InvalidArgumentError('give a sequence number such as 1042');
  return Number(value);
}

export function subscriptionsCommand(): Command {
  const subscriptions = new Command('subscriptions').description(
    'deliver events to your own systems (CloudEvents over HTTPS, verified through the JWKS)',
  );
  subscriptions.addCommand(
    api(
      new Command('create')
        .description('start delivering an organization’s events (from now on, or from --from-seq) to a sink')
        .requiredOption('--sink <url>', 'the receiver, e.g. https://siem.example.com/palisade')
        .option('--org <organization>', 'whose events (without it: the whole log, administrators only)')
        .option(
          '--type <prefix>',
          'only types starting with this (repeatable), e.g. dev.palisade.registry.',
          repeatable,
          [],
        )
        .option('--description <text>', 'a note for whoever reads the list')
        .option('--from-seq <n>', 'also send past events from this sequence number', sequence),
    ).action(
      async (
        flags: ApiFlags & {
          sink: string;
          org?: string;
          type: string[];
          description?: string;
          fromSeq?: number;
        },
      ) => {
        const client = await ApiClient.from(flags);
        const created = await client.request<SubscriptionView>('POST', API, {
          sink_url: flags.sink,
          types: flags.type,
          ...(flags.org ? { org: flags.org } : {}),
          ...(flags.description ? { description: flags.description } : {}),
          ...(flags.fromSeq ? { from_seq: flags.fromSeq } : {}),
        });
        print(flags.output, created, rows([created]));
      },
    ),
  );
  subscriptions.addCommand(
    api(
      new Command('list')
        .description('subscriptions with their status and lag')
        .option('--org <organization>', 'one organization’s (without it: all, administrators only)'),
    ).action(async (flags: ApiFlags & { org?: string }) => {
      const client = await ApiClient.from(flags);
      const query = flags.org ? `?org=${encodeURIComponent(flags.org)}` : '';
      const { subscriptions: list } = await client.request<{ subscriptions: SubscriptionView[] }>(
        'GET',
        `${API}${query}`,
      );
      print(flags.output, list, rows(list));
    }),
  );
  subscriptions.addCommand(
    api(new Command('show').description('one subscription in full').argument('<id>')).action(
      async (id: string, flags: ApiFlags) => {
        const client = await ApiClient.from(flags);
        const view = await client.request<SubscriptionView>('GET', `${API}/${encodeURIComponent(id)}`);
        print(flags.output, view, rows([view]));
      },
    ),
  );
  subscriptions.addCommand(
    api(
      new Command('delete')
        .description('stop delivering (undelivered events stay in the log)')
        .argument('<id>'),
    ).action(async (id: string, flags: ApiFlags) => {
      const client = await ApiClient.from(flags);
      await client.request('DELETE', `${API}/${encodeURIComponent(id)}`);
      if (flags.output === 'json') print('json', { deleted: id });
      else process.stdout.write(`deleted subscription ${id}\n`);
    }),
  );
  subscriptions.addCommand(
    api(
      new Command('redeliver')
        .description('resume a failing subscription, or send again from a sequence number')
        .argument('<id>')
        .option('--from-seq <n>', 'send every event from this sequence number again', sequence),
    ).action(async (id: string, flags: ApiFlags & { fromSeq?: number }) => {
      const client = await ApiClient.from(flags);
      const view = await client.request<SubscriptionView>(
        'POST',
        `${API}/${encodeURIComponent(id)}/redeliver`,
        flags.fromSeq ? { from_seq: flags.fromSeq } : {},
      );
      print(flags.output, view, rows([view]));
    }),
  );
  return subscriptions;
}
