// The presets build exactly the policies their platforms need: checked against the claims those
// platforms put in tokens (matching the intended job, not a neighbour's), with literals escaped.
import { describe, expect, it } from 'vitest';
import { mismatch, type TrustPolicy } from '../identity/federation/policy.js';
import { githubClaims, kubernetesClaims } from '../identity/federation/test-issuer.js';
import { GITHUB_ISSUER, GITLAB_ISSUER, policyFields, type PresetFlags } from './identity-presets.js';

const AUD = 'https://registry.example.com';

function policy(flags: PresetFlags): TrustPolicy {
  return {
    id: 'x',
    organization: 'acme',
    description: null,
    issuer: null,
    issuer_pattern: null,
    subject: null,
    subject_pattern: null,
    audience: null,
    audience_pattern: null,
    claim_patterns: {},
    roles: ['pusher'],
    repositories: [],
    max_ttl_seconds: 900,
    created_at: '',
    updated_at: '',
    created_by: '',
    ...(policyFields(flags) as Partial<TrustPolicy>),
  };
}

const gh = (options: Partial<Parameters<typeof githubClaims>[0]>) =>
  ({
    iss: GITHUB_ISSUER,
    ...githubClaims({ repository: 'acme/app.js', audience: AUD, ...options }),
  }) as never;

describe('policyFields', () => {
  it('--github-repo trusts every ref of that one repository, dots escaped', () => {
    const p = policy({ githubRepo: 'acme/app.js' });
    expect(p).toMatchObject({
      issuer: GITHUB_ISSUER,
      subject_pattern: 'repo:acme/app\\.js:.+',
      claim_patterns: { repository: 'acme/app\\.js' },
    });
    expect(mismatch(p, gh({ ref: 'refs/heads/dev' }), AUD)).toBeUndefined();
    expect(mismatch(p, gh({ repository: 'acme/appxjs' }), AUD)).toMatch(/^subject repo:acme\/appxjs/);
    expect(mismatch(p, gh({ repository: 'acme/app.js-fork' }), AUD)).toMatch(/^subject/);
  });

  it('--github-ref and --github-environment narrow it to a branch or an environment', () => {
    const main = policy({ githubRepo: 'acme/app.js', githubRef: 'main' });
    expect(main.subject).toBe('repo:acme/app.js:ref:refs/heads/main');
    expect(mismatch(main, gh({}), AUD)).toBeUndefined();
    expect(mismatch(main, gh({ ref: 'refs/heads/dev' }), AUD)).toMatch(
      /is not repo:acme\/app.js:ref:refs\/heads\/main/,
    );
    const prod = policy({ githubRepo: 'acme/app.js', githubEnvironment: 'prod', githubRef: 'refs/tags/v1' });
    expect(prod).toMatchObject({
      subject: 'repo:acme/app.js:environment:prod',
      claim_patterns: { repository: 'acme/app\\.js', ref: 'refs/tags/v1' },
    });
    expect(mismatch(prod, gh({ environment: 'prod', ref: 'refs/tags/v1' }), AUD)).toBeUndefined();
    expect(mismatch(prod, gh({ environment: 'prod', ref: 'refs/heads/main' }), AUD)).toMatch(/^claim ref/);
  });

  it('--gitlab-project and --kubernetes-issuer build their platforms’ subjects', () => {
    expect(policyFields({ gitlabProject: 'group/sub/project', gitlabRef: 'main' })).toEqual({
      issuer: GITLAB_ISSUER,
      subject: 'project_path:group/sub/project:ref_type:branch:ref:main',
      claim_patterns: { project_path: 'group/sub/project' },
    });
    const k8s = policy({ kubernetesIssuer: 'https://oidc.cluster.example', serviceAccount: 'ci/builder' });
    expect(k8s).toMatchObject({
      issuer: 'https://oidc.cluster.example',
      subject: 'system:serviceaccount:ci:builder',
    });
    const claims = {
      iss: 'https://oidc.cluster.example',
      ...kubernetesClaims({ namespace: 'ci', serviceAccount: 'builder', audience: AUD }),
    } as never;
    expect(mismatch(k8s, claims, AUD)).toBeUndefined();
  });

  it('lets generic flags add to or replace what a preset set', () => {
    expect(
      policyFields({
        githubRepo: 'acme/app',
        subject: 'repo:acme/app:pull_request',
        audience: 'palisade',
        claimPattern: ['runner_environment=github-hosted', 'workflow_ref=acme/app/.+@refs/heads/main'],
      }),
    ).toEqual({
      issuer: GITHUB_ISSUER,
      subject: 'repo:acme/app:pull_request',
      audience: 'palisade',
      claim_patterns: {
        repository: 'acme/app',
        runner_environment: 'github-hosted',
        workflow_ref: 'acme/app/.+@refs/heads/main',
      },
    });
  });

  it.each([
    [{ githubRepo: 'acme' }, /--github-repo takes OWNER\/REPO/],
    [{ githubRef: 'main' }, /go with --github-repo/],
    [{ githubRepo: 'a/b', gitlabProject: 'c/d' }, /use one preset/],
    [{ kubernetesIssuer: 'https://k' }, /needs --service-account/],
    [{ serviceAccount: 'ci/builder' }, /goes with --kubernetes-issuer/],
    [{ claimPattern: ['nonsense'] }, /NAME=REGEX/],
  ])('refuses %j', (flags, message) => {
    expect(() => policyFields(flags)).toThrow(message);
  });
});
