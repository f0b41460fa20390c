// Table types for Kysely. Times are integer milliseconds since the epoch on both dialects.
import type { ColumnType, Generated } from 'kysely';

export interface RepositoriesTable {
  name: string;
  created_at: number;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
  /** Refreshed whenever a push links or references the blob; GC's grace period counts from it. */
  last_used_at: number;
}

export interface RepositoryBlobsTable {
  repository: string;
  digest: string;
  linked_at: number;
}

export interface ManifestsTable {
  repository: string;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject: string | null;
  size: number;
  payload: ColumnType<Buffer, Buffer, Buffer>;
  /** Annotations JSON (for referrers responses), or null. */
  annotations: string | null;
  created_at: number;
  last_used_at: number;
}

export interface ManifestBlobsTable {
  repository: string;
  manifest_digest: string;
  blob_digest: string;
}

export interface ManifestChildrenTable {
  repository: string;
  parent_digest: string;
  child_digest: string;
}

export interface TagsTable {
  repository: string;
  name: string;
  digest: string;
  updated_at: number;
}

export interface UploadsTable {
  id: string;
  repository: string;
  created_at: number;
  updated_at: number;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: string;
  private_jwk_encrypted: string;
  kek_id: string;
  created_at: number;
  activates_at: number;
  retires_at: number;
  expires_at: number;
}

export interface UsersTable {
  id: string;
  display_name: string;
  email: string | null;
  is_admin: number;
  created_at: number;
  disabled_at: number | null;
  tokens_not_before?: number | null;
}

export interface OrganizationsTable {
  name: string;
  created_at: number;
}

export interface RoleBindingsTable {
  id: string;
  principal: string;
  role: string;
  organization: string;
  repository: string;
  created_at: number;
}

export interface PublicRepositoriesTable {
  name: string;
  created_at: number;
}

export interface RevokedTokensTable {
  jti: string;
  expires_at: number;
}

export interface PasskeysTable {
  id: string;
  user_id: string;
  /** COSE public key, base64url. */
  public_key: string;
  counter: number;
  /** JSON array of AuthenticatorTransport. */
  transports: string;
  device_type: string;
  backed_up: number;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

export interface EnrollmentTokensTable {
  token_hash: string;
  user_id: string | null;
  make_admin: number;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface WebSessionsTable {
  id_hash: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  amr: string;
  acr: string | null;
  auth_time: number;
  upstream_iss: string | null;
  upstream_sub: string | null;
}

export interface CeremoniesTable {
  id_hash: string;
  kind: string;
  challenge: string;
  user_id: string | null;
  enrollment_hash: string | null;
  created_at: number;
  expires_at: number;
}

export interface DeviceGrantsTable {
  device_code_hash: string;
  user_code_hash: string;
  client_id: string;
  scope: string;
  status: string;
  user_id: string | null;
  /** JSON of the approving session's Authentication. */
  authentication: string | null;
  interval_seconds: number;
  last_polled_at: number | null;
  created_at: number;
  expires_at: number;
}

export interface RefreshTokensTable {
  token_hash: string;
  family_id: string;
  user_id: string;
  client_id: string;
  scope: string;
  authentication: string;
  created_at: number;
  idle_expires_at: number;
  family_expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

export interface IdentityProvidersTable {
  id: string;
  display_name: string;
  issuer: string;
  client_id: string;
  auth_method: string;
  credential_encrypted: string;
  public_jwk: string | null;
  extra_scopes: string;
  allowed_email_domains: string;
  acr_values: string;
  accepted_acr: string;
  require_mfa: number;
  default_role: string | null;
  default_organization: string | null;
  created_at: number;
}

export interface UserIdentitiesTable {
  issuer: string;
  subject: string;
  user_id: string;
  provider_id: string;
  email: string | null;
  created_at: number;
  last_sign_in_at: number;
}

export interface SsoLoginsTable {
  state_hash: string;
  provider_id: string;
  code_verifier: string;
  nonce: string;
  return_to: string;
  created_at: number;
  expires_at: number;
}

export interface AuditEventsTable {
  seq: number;
  id: string;
  type: string;
  subject: string | null;
  org: string | null;
  actor: string;
  time: number;
  event: string;
  prev_hash: string;
  hash: string;
}

/** An event written by a change, not yet numbered and hashed into audit_events (PostgreSQL). */
export interface AuditOutboxTable extends Omit<AuditEventsTable, 'seq' | 'prev_hash' | 'hash'> {
  n: Generated<number>;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  created_at: number;
  jws: string;
}

export interface AuditAnchorTable {
  id: number;
  seq: number;
  hash: string;
  created_at: number;
  jws: string;
}

export interface EventSubscriptionsTable {
  id: string;
  org: string | null;
  sink_url: string;
  types: string;
  description: string | null;
  created_at: number;
  created_by: string;
  cursor_seq: number;
  status: 'active' | 'failing';
  failing_since: number | null;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  last_attempt_at: number | null;
  last_delivered_at: number | null;
  delivered_total: number;
  lease_owner: string | null;
  lease_until: number;
}

export interface ConfigSnapshotTable {
  id: number;
  settings: string;
  updated_at: number;
}

export interface TrustPoliciesTable {
  id: string;
  organization: string;
  description: string | null;
  issuer: string | null;
  issuer_pattern: string | null;
  subject: string | null;
  subject_pattern: string | null;
  audience: string | null;
  audience_pattern: string | null;
  claim_patterns: string;
  roles: string;
  repositories: string;
  max_ttl_seconds: number;
  created_at: number;
  updated_at: number;
  created_by: string;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_blobs: ManifestBlobsTable;
  manifest_children: ManifestChildrenTable;
  tags: TagsTable;
  uploads: UploadsTable;
  signing_keys: SigningKeysTable;
  users: UsersTable;
  organizations: OrganizationsTable;
  role_bindings: RoleBindingsTable;
  public_repositories: PublicRepositoriesTable;
  revoked_tokens: RevokedTokensTable;
  passkeys: PasskeysTable;
  enrollment_tokens: EnrollmentTokensTable;
  web_sessions: WebSessionsTable;
  ceremonies: CeremoniesTable;
  device_grants: DeviceGrantsTable;
  refresh_tokens: RefreshTokensTable;
  identity_providers: IdentityProvidersTable;
  user_identities: UserIdentitiesTable;
  sso_logins: SsoLoginsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  audit_outbox: AuditOutboxTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_anchor: AuditAnchorTable;
  event_subscriptions: EventSubscriptionsTable;
  config_snapshot: ConfigSnapshotTable;
  trust_policies: TrustPoliciesTable;
  jobs: JobsTable;
  image_analyses: ImageAnalysesTable;
  image_packages: ImagePackagesTable;
  vulnerabilities: VulnerabilitiesTable;
  affected_packages: AffectedPackagesTable;
  vulndb_state: VulndbStateTable;
  findings: FindingsTable;
}

export interface JobsTable {
  id: string;
  kind: string;
  key: string;
  payload: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  attempts: number;
  max_attempts: number;
  rerun: number;
  run_after: number;
  lease_owner: string | null;
  lease_until: number;
  last_error: string | null;
  result: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface ImageAnalysesTable {
  repository: string;
  digest: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  failure_reason: string | null;
  failure_message: string | null;
  distro: string | null;
  inventory: string | null;
  package_count: number;
  spdx_digest: string | null;
  cyclonedx_digest: string | null;
  layer_bytes: number;
  analysed_at: number | null;
  matched_at: number | null;
  updated_at: number;
}

export interface ImagePackagesTable {
  repository: string;
  digest: string;
  ecosystem: string;
  name: string;
}

export interface VulnerabilitiesTable {
  id: string;
  modified: string;
  modified_ms: number;
  published: string | null;
  withdrawn: string | null;
  aliases: string;
  summary: string | null;
  severity: string | null;
  record: string;
  imported_at: number;
}

export interface AffectedPackagesTable {
  vuln_id: string;
  idx: number;
  ecosystem: string;
  name: string;
  affected: string;
}

export interface FindingsTable {
  repository: string;
  digest: string;
  vuln_id: string;
  purl: string;
  ids: string;
  aliases: string;
  package_name: string;
  package_version: string;
  ecosystem: string;
  fixed_version: string | null;
  severity: string;
  score: number | null;
  summary: string | null;
  evidence: string;
  first_seen_at: number;
}

export interface VulndbStateTable {
  id: number;
  generation: number;
}
