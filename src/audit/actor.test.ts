// actorOf: a cached caller's actor is built once — the same frozen object, its canonical text
// remembered, for every event that caller's requests record — and freezing it leaves the
// principal's own claims alone.
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../identity/authorizer.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { actorOf } from './audit-log.js';

function workloadPrincipal(): Principal {
  return {
    kind: 'workload',
    subject: 'identity:ci-deployer',
    admin: false,
    scopes: new Set(),
    authentication: {
      amr: ['oidc'],
      upstream: {
        iss: 'https://token.actions.githubusercontent.com',
        sub: 'repo:acme/app:ref:refs/heads/main',
      },
      workload: {
        identity: 'ci-deployer',
        aud: ['https://palisade.example'],
        claims: { repository: 'acme/app', ref: 'refs/heads/main', run_id: '42' },
      },
    },
  };
}

describe('actorOf', () => {
  it('returns one frozen actor per principal, whose remembered text is its canonical JSON', () => {
    const principal = workloadPrincipal();
    const actor = actorOf(principal);
    expect(actorOf(principal)).toBe(actor);
    expect(actor.subject).toBe('identity:ci-deployer');
    expect(actor.act).toMatchObject({ iss: 'https://token.actions.githubusercontent.com', amr: ['oidc'] });
    expect(Object.isFrozen(actor) && Object.isFrozen(actor.act) && Object.isFrozen(actor.act.amr)).toBe(true);
    expect(canonicalJson({ actor })).toBe(canonicalize({ actor: JSON.parse(JSON.stringify(actor)) }));
    // Another principal (another token, or the same one after the cache let it go) gets its own.
    expect(actorOf(workloadPrincipal())).not.toBe(actor);
  });

  it('leaves the principal it describes unfrozen', () => {
    const principal = workloadPrincipal();
    actorOf(principal);
    principal.authentication.amr!.push('mfa');
    principal.authentication.workload!.aud.push('other');
    expect(Object.isFrozen(principal.authentication.workload!.claims)).toBe(false);
    // The actor was copied before it was frozen: it still says what it said.
    expect(actorOf(principal).act.amr).toEqual(['oidc']);
  });
});
