// `palisade iam identities create|list|show|update|delete`: trust policies that let CI jobs,
// pods and cloud functions exchange their own OIDC tokens for short-lived Palisade tokens.
import { Command, InvalidArgumentError } from 'commander';
import type { TrustPolicy } from '../identity/federation/policy.js';
import { parseDuration } from '../lib/duration.js';
import { api, ApiClient, print, repeatable, type ApiFlags } from './api-client.js';
import { policyFields, type PresetFlags } from './identity-presets.js';

const API = '/api/v1/iam/identities';

interface GrantFlags {
  org?: string;
  role?: string[];
  repository?: string[];
  maxTtl?: number;
  description?: string;
}

function seconds(value: string): number {
  const parsed = parseDuration(value);
  if (parsed === undefined || parsed < 60 || parsed > 3600) {
    throw new InvalidArgumentError('a duration from 1m to 1h, e.g. 15m');
  }
  return parsed;
}

function policyOptions(command: Command): Command {
  return command
    .option('--github-repo <owner/repo>', 'GitHub Actions jobs of this repository')
    .option('--github-ref <ref>', '… only on this branch or ref (main, refs/tags/v1)')
    .option('--github-environment <env>', '… only in this deployment environment')
    .option('--gitlab-project <group/project>', 'GitLab CI jobs of this project')
    .option('--gitlab-ref <branch>', '… only on this branch')
    .option('--gitlab-url <url>', '… of a self-managed GitLab (default https://gitlab.com)')
    .option(
      '--kubernetes-issuer <url>',
      "a cluster's service-account issuer (kubectl get --raw /.well-known/openid-configuration)",
    )
    .option('--service-account <namespace/name>', '… the service account whose pods may assume it')
    .option('--issuer <url>', 'the OIDC issuer, exactly')
    .option('--issuer-pattern <regex>', '… or a pattern (anchored; must start with https://)')
    .option('--subject <sub>', 'the token subject, exactly')
    .option('--subject-pattern <regex>', '… or a pattern (anchored)')
    .option('--audience <aud>', 'the audience the token must carry (default: this server’s URL)')
    .option('--audience-pattern <regex>', '… or a pattern')
    .option('--claim-pattern <name=regex>', 'another claim that must match (repeatable)', repeatable)
    .option('--role <role>', 'role granted: pusher, puller, editor, viewer (repeatable)', repeatable)
    .option(
      '--repository <name>',
      'only on this repository (repeatable; default: the whole organization)',
      repeatable,
    )
    .option('--max-ttl <duration>', 'longest life of an exchanged token (default 15m, at most 1h)', seconds)
    .option('--description <text>', 'what it is for');
}

function body(flags: PresetFlags & GrantFlags): Record<string, unknown> {
  return {
    ...policyFields(flags),
    ...(flags.role ? { roles: flags.role } : {}),
    ...(flags.repository ? { repositories: flags.repository } : {}),
    ...(flags.maxTtl !== undefined ? { max_ttl_seconds: flags.maxTtl } : {}),
    ...(flags.description !== undefined ? { description: flags.description } : {}),
  };
}

const rows = (policies: TrustPolicy[]) =>
  policies.map((p) => ({
    id: p.id,
    organization: p.organization,
    issuer: p.issuer ?? `~ ${p.issuer_pattern}`,
    subject: p.subject ?? `~ ${p.subject_pattern}`,
    roles: p.roles,
    repositories: p.repositories.length > 0 ? p.repositories : '(all)',
    max_ttl: `${p.max_ttl_seconds}s`,
  }));

export function identitiesCommand(): Command {
  const identities = new Command('identities').description(
    'workload identities: trust policies for CI jobs, pods and functions (no stored secrets)',
  );
  identities.addCommand(
    policyOptions(
      api(
        new Command('create')
          .description(
            'let workloads matching the policy exchange their OIDC tokens (--output json prints its id)',
          )
          .requiredOption('--org <organization>', 'the organization whose roles it grants'),
      ),
    ).action(async (flags: ApiFlags & PresetFlags & GrantFlags) => {
      if (!flags.role) throw new InvalidArgumentError('give at least one --role, e.g. --role pusher');
      const client = await ApiClient.from(flags);
      const created = await client.request<TrustPolicy>('POST', API, {
        organization: flags.org,
        ...body(flags),
      });
      print(flags.output, created, rows([created]));
    }),
  );
  identities.addCommand(
    api(
      new Command('list')
        .description('list identities')
        .option('--org <organization>', 'one organization’s (without it: all, administrators only)'),
    ).action(async (flags: ApiFlags & { org?: string }) => {
      const client = await ApiClient.from(flags);
      const query = flags.org ? `?organization=${encodeURIComponent(flags.org)}` : '';
      const { identities: list } = await client.request<{ identities: TrustPolicy[] }>(
        'GET',
        `${API}${query}`,
      );
      print(flags.output, list, rows(list));
    }),
  );
  identities.addCommand(
    api(new Command('show').description('one identity in full').argument('<id>')).action(
      async (id: string, flags: ApiFlags) => {
        const client = await ApiClient.from(flags);
        const policy = await client.request<TrustPolicy>('GET', `${API}/${encodeURIComponent(id)}`);
        print('json', policy); // nested fields (claim patterns) read best as JSON either way
      },
    ),
  );
  identities.addCommand(
    policyOptions(
      api(new Command('update').description('change an identity (only the flags given)').argument('<id>')),
    ).action(async (id: string, flags: ApiFlags & PresetFlags & GrantFlags) => {
      const client = await ApiClient.from(flags);
      const changes = body(flags);
      if (Object.keys(changes).length === 0)
        throw new InvalidArgumentError('nothing to change: give some flags');
      const updated = await client.request<TrustPolicy>('PATCH', `${API}/${encodeURIComponent(id)}`, changes);
      print(flags.output, updated, rows([updated]));
    }),
  );
  identities.addCommand(
    api(
      new Command('delete')
        .description('delete an identity; its exchanged tokens stop working')
        .argument('<id>'),
    ).action(async (id: string, flags: ApiFlags) => {
      const client = await ApiClient.from(flags);
      await client.request('DELETE', `${API}/${encodeURIComponent(id)}`);
      if (flags.output === 'json') print('json', { deleted: id });
      else process.stdout.write(`deleted identity ${id}\n`);
    }),
  );
  return identities;
}
