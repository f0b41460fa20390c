// A software WebAuthn authenticator for HTTP-level tests: it answers registration and sign-in
// options the way a browser plus a platform authenticator would ("none" attestation, ES256),
// and can be told to misbehave (no user verification, wrong origin, replayed or rewound counter).
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

type Cbor = number | string | Buffer | Map<Cbor, Cbor>;

/** Just enough CBOR (RFC 8949) for attestation objects and COSE keys. */
function cbor(value: Cbor): Buffer {
  const head = (major: number, length: number): Buffer => {
    if (length < 24) return Buffer.from([(major << 5) | length]);
    if (length < 256) return Buffer.from([(major << 5) | 24, length]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(length, 1);
    return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string')
    return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  const parts = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

const b64u = (b: Buffer) => b.toString('base64url');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

export interface Misbehaviour {
  userVerified?: boolean;
  origin?: string;
  /** Sign-in counter to report instead of the next one. */
  counter?: number;
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(32);
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  #counter = 0;
  #userHandle = '';

  constructor(
    private readonly origin: string,
    private readonly options: { backedUp?: boolean } = {},
  ) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = pair.privateKey;
    this.#publicKey = pair.publicKey;
  }

  get id(): string {
    return b64u(this.credentialId);
  }

  #flags(uv: boolean, attested: boolean): number {
    const backedUp = this.options.backedUp ?? false;
    return 0x01 | (uv ? 0x04 : 0) | (backedUp ? 0x08 | 0x10 : 0) | (attested ? 0x40 : 0);
  }

  #clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  register(
    options: { challenge: string; rp: { id?: string }; user: { id: string } },
    bad: Misbehaviour = {},
  ) {
    const rpId = options.rp.id ?? new URL(this.origin).hostname;
    this.#userHandle = options.user.id;
    const jwk = this.#publicKey.export({ format: 'jwk' });
    const coseKey = new Map<Cbor, Cbor>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]);
    const counter = Buffer.alloc(4);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([this.#flags(bad.userVerified ?? true, true)]),
      counter,
      Buffer.alloc(16), // aaguid
      idLength,
      this.credentialId,
      cbor(coseKey),
    ]);
    const attestationObject = cbor(
      new Map<Cbor, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64u(
          this.#clientData('webauthn.create', options.challenge, bad.origin ?? this.origin),
        ),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
    };
  }

  authenticate(options: { challenge: string; rpId?: string }, bad: Misbehaviour = {}) {
    const rpId = options.rpId ?? new URL(this.origin).hostname;
    if (bad.counter === undefined) this.#counter += 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(bad.counter ?? this.#counter);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([this.#flags(bad.userVerified ?? true, false)]),
      counter,
    ]);
    const clientData = this.#clientData('webauthn.get', options.challenge, bad.origin ?? this.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), this.#privateKey);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64u(clientData),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        userHandle: this.#userHandle,
      },
      clientExtensionResults: {},
    };
  }
}
