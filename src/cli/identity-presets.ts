// What `palisade iam identities create|update` sends for its preset flags. CI platforms and
// clusters have fixed issuers and subject formats; writing those by hand is where trust policies
// go wrong (an unescaped dot, a pattern that trusts every repository), so the presets build them
// from names, escaping every literal part, and the generic flags add to or override them.
import { InvalidArgumentError } from 'commander';
import { literal } from '../identity/federation/patterns.js';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
export const GITLAB_ISSUER = 'https://gitlab.com';

export interface PresetFlags {
  githubRepo?: string;
  githubRef?: string;
  githubEnvironment?: string;
  gitlabProject?: string;
  gitlabRef?: string;
  gitlabUrl?: string;
  kubernetesIssuer?: string;
  serviceAccount?: string;
  issuer?: string;
  issuerPattern?: string;
  subject?: string;
  subjectPattern?: string;
  audience?: string;
  audiencePattern?: string;
  claimPattern?: string[];
}

const OWNER_REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const GROUP_PROJECT = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+$/;
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** refs/heads/main stays; main becomes refs/heads/main. */
function fullRef(ref: string): string {
  return ref.startsWith('refs/') ? ref : `refs/heads/${ref}`;
}

/** The trust-policy fields the flags describe (only those given). Throws InvalidArgumentError. */
export function policyFields(flags: PresetFlags): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const claims: Record<string, string> = {};
  const presets = [flags.githubRepo, flags.gitlabProject, flags.kubernetesIssuer].filter(Boolean).length;
  if (presets > 1) {
    throw new InvalidArgumentError('use one preset: --github-repo, --gitlab-project or --kubernetes-issuer');
  }
  if (flags.githubRepo !== undefined) {
    if (!OWNER_REPO.test(flags.githubRepo)) throw new InvalidArgumentError('--github-repo takes OWNER/REPO');
    const repo = flags.githubRepo;
    fields.issuer = GITHUB_ISSUER;
    claims.repository = literal(repo);
    if (flags.githubEnvironment !== undefined) {
      fields.subject = `repo:${repo}:environment:${flags.githubEnvironment}`;
      if (flags.githubRef !== undefined) claims.ref = literal(fullRef(flags.githubRef));
    } else if (flags.githubRef !== undefined) {
      fields.subject = `repo:${repo}:ref:${fullRef(flags.githubRef)}`;
    } else {
      // Any ref, pull request or environment of this one repository.
      fields.subject_pattern = `repo:${literal(repo)}:.+`;
    }
  } else if (flags.githubRef !== undefined || flags.githubEnvironment !== undefined) {
    throw new InvalidArgumentError('--github-ref and --github-environment go with --github-repo');
  }
  if (flags.gitlabProject !== undefined) {
    if (!GROUP_PROJECT.test(flags.gitlabProject))
      throw new InvalidArgumentError('--gitlab-project takes GROUP/PROJECT');
    const project = flags.gitlabProject;
    fields.issuer = flags.gitlabUrl ?? GITLAB_ISSUER;
    claims.project_path = literal(project);
    if (flags.gitlabRef !== undefined) {
      fields.subject = `project_path:${project}:ref_type:branch:ref:${flags.gitlabRef}`;
    } else {
      fields.subject_pattern = `project_path:${literal(project)}:.+`;
    }
  } else if (flags.gitlabRef !== undefined || flags.gitlabUrl !== undefined) {
    throw new InvalidArgumentError('--gitlab-ref and --gitlab-url go with --gitlab-project');
  }
  if (flags.kubernetesIssuer !== undefined) {
    if (!flags.serviceAccount || !NAMESPACE_NAME.test(flags.serviceAccount)) {
      throw new InvalidArgumentError('--kubernetes-issuer needs --service-account NAMESPACE/NAME');
    }
    const [namespace, name] = flags.serviceAccount.split('/');
    fields.issuer = flags.kubernetesIssuer;
    fields.subject = `system:serviceaccount:${namespace}:${name}`;
  } else if (flags.serviceAccount !== undefined) {
    throw new InvalidArgumentError('--service-account goes with --kubernetes-issuer');
  }
  // Generic flags: each replaces its pair (issuer or issuer_pattern, …) from a preset.
  const pairs: [keyof PresetFlags, string, string][] = [
    ['issuer', 'issuer', 'issuer_pattern'],
    ['issuerPattern', 'issuer_pattern', 'issuer'],
    ['subject', 'subject', 'subject_pattern'],
    ['subjectPattern', 'subject_pattern', 'subject'],
    ['audience', 'audience', 'audience_pattern'],
    ['audiencePattern', 'audience_pattern', 'audience'],
  ];
  for (const [flag, field, other] of pairs) {
    const value = flags[flag];
    if (typeof value === 'string') {
      fields[field] = value;
      delete fields[other];
    }
  }
  for (const item of flags.claimPattern ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--claim-pattern takes NAME=REGEX, not ${item}`);
    claims[item.slice(0, eq)] = item.slice(eq + 1);
  }
  if (Object.keys(claims).length > 0) fields.claim_patterns = claims;
  return fields;
}
