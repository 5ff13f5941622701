import { Redis, type RedisOptions } from 'ioredis';
import { redactRedisUrl } from './connection.js';

/** Redis did not answer: producers report it in one sentence instead of waiting forever. */
export class RedisUnavailableError extends Error {
  readonly code: 'REDIS_UNAVAILABLE' | RedisRefusalCode = 'REDIS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisUnavailableError';
  }
}

/**
 * Redis answered but refused to set the connection up as the URL asks: a database number it does not have
 * (`ERR DB index is out of range`; Redis Cluster has database 0 only), or credentials it does not accept (`NOAUTH`,
 * `WRONGPASS`). ioredis logs the first and carries on in database 0, where other queues may live, and retries the
 * second for ever, so every command and process refuses to start instead. The same goes for a `rediss://` Redis
 * whose certificate this machine does not trust (`REDIS_TLS_UNTRUSTED`): ioredis would retry the handshake for ever.
 */
export class RedisRefusedError extends RedisUnavailableError {
  override readonly code: RedisRefusalCode;
  constructor(message: string, code: RedisRefusalCode = 'REDIS_REFUSED') {
    super(message);
    this.name = 'RedisRefusedError';
    this.code = code;
  }
}

/** `REDIS_REFUSED`: Redis said no to the URL's database or credentials; `REDIS_TLS_UNTRUSTED`: we said no to its certificate. */
export type RedisRefusalCode = 'REDIS_REFUSED' | 'REDIS_TLS_UNTRUSTED';

/** Redis's replies to a connection without the password it requires, or with a user or password it does not know. */
const CREDENTIALS_REFUSED = /^(NOAUTH|WRONGPASS)\b/;

/**
 * Node's codes for a server certificate that fails verification: signed by a CA it does not trust (a private
 * one, or self-signed), expired or not yet valid, or made out to another host name.
 */
const CERTIFICATE_UNTRUSTED =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|CERT_REJECTED|CERT_SIGNATURE_FAILURE|INVALID_CA|INVALID_PURPOSE|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** Default time to wait for Redis to answer a first PING, in ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Connects once, without retrying, and PINGs; throws `RedisUnavailableError` naming the (redacted) URL when
 * nothing answers within `timeoutMs`, and `RedisRefusedError` when Redis answered but refused the connection's
 * setup, or presented a certificate this machine does not trust.
 */
export async function assertRedisReachable(
  url: string,
  options: RedisOptions,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): Promise<void> {
  const client = new Redis({
    ...options,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: NodeJS.ErrnoException | undefined;
  let refusal: Error | undefined;
  client.on('error', (error: NodeJS.ErrnoException) => {
    // Named in the message below: connect() itself only says "Connection is closed".
    lastError = error;
    // A reply to the setup ioredis sends on connecting (SELECT): the server is there and said no.
    if (error.name === 'ReplyError') refusal ??= error;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    const cause = lastError ?? (error as NodeJS.ErrnoException);
    const reason = (cause.code ?? cause.message).replace(/[.\s]+$/, '');
    // Redis answered, and will refuse every connection made with these credentials: waiting cannot help.
    if (cause.name === 'ReplyError' && CREDENTIALS_REFUSED.test(cause.message)) {
      throw new RedisRefusedError(
        `Redis at ${redactRedisUrl(url)} refused the credentials in REDIS_URL (${reason}); check its user name and password.`,
      );
    }
    // The handshake failed on our side: retrying meets the same certificate.
    if (cause.code && CERTIFICATE_UNTRUSTED.test(cause.code)) {
      throw new RedisRefusedError(
        `Redis at ${redactRedisUrl(url)} presented a TLS certificate this machine does not trust (${reason}); if a private CA signed it, set NODE_EXTRA_CA_CERTS to that CA's PEM file, and check that the certificate names the host in REDIS_URL.`,
        'REDIS_TLS_UNTRUSTED',
      );
    }
    throw new RedisUnavailableError(
      `Cannot reach Redis at ${redactRedisUrl(url)} (${reason}); start it or set REDIS_URL${schemeHint(url, cause)}.`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    // ioredis's disconnect() arms a 2 s timer that only the socket's next 'close' clears: on a connection that has
    // already failed and closed ('end') it ran out the clock, keeping a failed command's process up for 2 s.
    if (client.status !== 'end') client.disconnect();
  }
  if (refusal) {
    throw new RedisRefusedError(
      `Redis at ${redactRedisUrl(url)} refused the connection's setup (${refusal.message}); check the database number in REDIS_URL.`,
    );
  }
}

/**
 * What a URL of the wrong scheme for its port looks like: a TLS port closes a plain connection at once
 * (ECONNRESET), and a plain one never answers a TLS handshake (no answer in time) or answers it with plain text.
 */
function schemeHint(url: string, cause: NodeJS.ErrnoException): string {
  const tls = /^rediss:/i.test(url);
  if (!tls && cause.code === 'ECONNRESET') return ' (if that port takes TLS, use rediss://)';
  if (tls && (cause.code === undefined || /^(EPROTO|ECONNRESET|ERR_SSL_)/.test(cause.code))) {
    return ' (if that port takes plain connections, use redis://)';
  }
  return '';
}

/**
 * For processes that wait for Redis when it is away (workers, the dashboard): only a refusal throws, since
 * the process would otherwise run against database 0.
 */
export async function assertRedisNotRefusing(
  url: string,
  options: RedisOptions,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): Promise<void> {
  try {
    await assertRedisReachable(url, options, timeoutMs);
  } catch (error) {
    if (error instanceof RedisRefusedError) throw error;
  }
}
