// `palisade iam …`: manage users, role bindings and public repositories through the IAM API,
// as a person signed in with `palisade auth login` or with a token in PALISADE_TOKEN.
import { Command } from 'commander';
import type { UserView } from '../identity/iam.js';
import { api, ApiClient, print, type ApiFlags } from './api-client.js';
import { identitiesCommand } from './identities-command.js';

type User = UserView;

interface Binding {
  id: string;
  principal: string;
  role: string;
  organization: string;
  repository: string;
}

const userRow = (u: User) => ({
  id: u.id,
  name: u.display_name,
  email: u.email,
  admin: u.admin,
  disabled: u.disabled,
});
const bindingRow = (b: Binding) => ({
  id: b.id,
  principal: b.principal,
  role: b.role,
  organization: b.organization,
  repository: b.repository || '(all)',
});

export function iamCommand(): Command {
  const iam = new Command('iam').description(
    'manage users, role bindings, public repositories and workload identities',
  );

  iam.addCommand(
    api(new Command('whoami').description('show who the current token belongs to')).action(
      async (flags: ApiFlags) => {
        const client = await ApiClient.from(flags);
        const me = await client.request<Record<string, unknown>>('GET', '/api/v1/iam/whoami');
        print(flags.output, me, [
          {
            subject: me.subject,
            kind: me.kind,
            admin: me.admin,
            scopes: me.scopes,
            expires_at: me.expires_at,
          },
        ]);
      },
    ),
  );

  const users = new Command('users').description('people with access to Palisade (administrators only)');
  users.addCommand(
    api(new Command('list').description('list users')).action(async (flags: ApiFlags) => {
      const { users: list } = await (
        await ApiClient.from(flags)
      ).request<{ users: User[] }>('GET', '/api/v1/iam/users?limit=1000');
      print(flags.output, list, list.map(userRow));
    }),
  );
  users.addCommand(
    api(
      new Command('create').description(
        'create a user and print their one-time passkey enrollment link (valid 15 minutes)',
      ),
    )
      .requiredOption('--name <name>', 'display name')
      .option('--email <email>', 'email address (informational; people are never matched by email alone)')
      .option('--admin', 'make the user an administrator')
      .action(async (flags: ApiFlags & { name: string; email?: string; admin?: boolean }) => {
        const created = await (
          await ApiClient.from(flags)
        ).request<{ user: User; enrollment: { url: string; expires_at: string } }>(
          'POST',
          '/api/v1/iam/users',
          {
            display_name: flags.name,
            ...(flags.email ? { email: flags.email } : {}),
            admin: Boolean(flags.admin),
          },
        );
        if (flags.output === 'json') print('json', created);
        else
          process.stdout.write(
            `Created ${created.user.id}. Send them this one-time link (valid until ${created.enrollment.expires_at}):\n${created.enrollment.url}\n`,
          );
      }),
  );
  users.addCommand(
    api(
      new Command('update').description(
        "change a user's name, email, admin flag, or disable them (ends their sessions and tokens)",
      ),
    )
      .argument('<id>', 'user id')
      .option('--name <name>', 'new display name')
      .option('--email <email>', 'new email')
      .option('--admin', 'make administrator')
      .option('--no-admin', 'remove administrator')
      .option('--disable', 'disable the account')
      .option('--enable', 're-enable the account')
      .action(
        async (
          id: string,
          flags: ApiFlags & {
            name?: string;
            email?: string;
            admin?: boolean;
            disable?: boolean;
            enable?: boolean;
          },
        ) => {
          const changes = {
            ...(flags.name !== undefined ? { display_name: flags.name } : {}),
            ...(flags.email !== undefined ? { email: flags.email } : {}),
            ...(flags.admin !== undefined ? { admin: flags.admin } : {}),
            ...(flags.disable ? { disabled: true } : flags.enable ? { disabled: false } : {}),
          };
          const user = await (
            await ApiClient.from(flags)
          ).request<User>('PATCH', `/api/v1/iam/users/${encodeURIComponent(id)}`, changes);
          print(flags.output, user, [userRow(user)]);
        },
      ),
  );
  users.addCommand(
    api(
      new Command('enroll').description(
        'print a new one-time link that adds a passkey to this user (recovery)',
      ),
    )
      .argument('<id>', 'user id')
      .action(async (id: string, flags: ApiFlags) => {
        const link = await (
          await ApiClient.from(flags)
        ).request<{ url: string; expires_at: string }>(
          'POST',
          `/api/v1/iam/users/${encodeURIComponent(id)}/enrollment`,
        );
        if (flags.output === 'json') print('json', link);
        else process.stdout.write(`${link.url}\n`);
      }),
  );
  iam.addCommand(users);

  const bindings = new Command('bindings').description(
    'roles given to users in an organization or one repository',
  );
  bindings.addCommand(
    api(new Command('list').description('list the bindings of an organization'))
      .requiredOption('--org <organization>', 'organization (first path segment of repository names)')
      .action(async (flags: ApiFlags & { org: string }) => {
        const { bindings: list } = await (
          await ApiClient.from(flags)
        ).request<{ bindings: Binding[] }>(
          'GET',
          `/api/v1/iam/bindings?organization=${encodeURIComponent(flags.org)}`,
        );
        print(flags.output, list, list.map(bindingRow));
      }),
  );
  bindings.addCommand(
    api(
      new Command('create').description(
        'give a user a role in an organization, or in one of its repositories',
      ),
    )
      .requiredOption('--principal <principal>', 'user:<id>')
      .requiredOption('--role <role>', 'owner, editor, viewer, pusher or puller (palisade iam roles list)')
      .requiredOption('--org <organization>', 'organization')
      .option('--repository <name>', 'limit the role to this repository of the organization')
      .action(
        async (flags: ApiFlags & { principal: string; role: string; org: string; repository?: string }) => {
          const created = await (
            await ApiClient.from(flags)
          ).request<Binding>('POST', '/api/v1/iam/bindings', {
            principal: flags.principal,
            role: flags.role,
            organization: flags.org,
            ...(flags.repository ? { repository: flags.repository } : {}),
          });
          print(flags.output, created, [bindingRow(created)]);
        },
      ),
  );
  bindings.addCommand(
    api(new Command('delete').description('remove a binding'))
      .argument('<id>', 'binding id')
      .action(async (id: string, flags: ApiFlags) => {
        await (
          await ApiClient.from(flags)
        ).request('DELETE', `/api/v1/iam/bindings/${encodeURIComponent(id)}`);
        print(flags.output, { deleted: id }, [{ deleted: id }]);
      }),
  );
  iam.addCommand(bindings);

  const roles = new Command('roles').description('the roles and the capabilities each holds');
  roles.addCommand(
    api(new Command('list').description('list roles')).action(async (flags: ApiFlags) => {
      const { roles: list } = await (
        await ApiClient.from(flags)
      ).request<{ roles: { name: string; capabilities: string[] }[] }>('GET', '/api/v1/iam/roles');
      print(
        flags.output,
        list,
        list.map((r) => ({ role: r.name, capabilities: r.capabilities })),
      );
    }),
  );
  iam.addCommand(roles);

  const visibility = new Command('public').description(
    'repositories anyone may pull without signing in (administrators)',
  );
  visibility.addCommand(
    api(new Command('list').description('list public repositories')).action(async (flags: ApiFlags) => {
      const { repositories } = await (
        await ApiClient.from(flags)
      ).request<{ repositories: string[] }>('GET', '/api/v1/iam/public-repositories');
      print(
        flags.output,
        repositories,
        repositories.map((name) => ({ repository: name })),
      );
    }),
  );
  for (const [name, method, description] of [
    ['set', 'PUT', 'make a repository public (anonymous pull)'],
    ['unset', 'DELETE', 'make a repository private again'],
  ] as const) {
    visibility.addCommand(
      api(new Command(name).description(description))
        .argument('<repository>', 'repository name, e.g. acme/base')
        .action(async (repository: string, flags: ApiFlags) => {
          await (
            await ApiClient.from(flags)
          ).request(
            method,
            `/api/v1/iam/public-repositories/${repository.split('/').map(encodeURIComponent).join('/')}`,
          );
          print(flags.output, { repository, public: name === 'set' }, [
            { repository, public: name === 'set' },
          ]);
        }),
    );
  }
  iam.addCommand(visibility);
  iam.addCommand(identitiesCommand());
  return iam;
}
