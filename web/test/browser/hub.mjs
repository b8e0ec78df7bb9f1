// Starts a real hub (the built binary, embedded store on a temp dir, self-signed TLS) for the
// browser tests, and talks to its API the way a client script would.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const SUPER = { email: 'super@example.com', password: 'super-secret-pw' };
const SECRET = 'browser-test-webhook-secret';

async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
    server.on('error', fail);
  });
}

export class Hub {
  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'boothhub-web-'));
    const hub = new Hub(dir, await freePort());
    await hub.launch();
    hub.superToken = (await hub.call('POST', '/auth/login', SUPER)).body.token;
    return hub;
  }

  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.base = `https://127.0.0.1:${port}`;
  }

  /** Starts the binary on this hub's port and data dir; resolves once it answers. */
  async launch() {
    const binary = process.env.BOOTHHUB_BIN ?? resolve(import.meta.dirname, '../../../target/debug/boothhub');
    const { dir, port } = this;
    const child = spawn(binary, ['serve'], {
      env: {
        ...process.env,
        BOOTHHUB_LISTEN: `127.0.0.1:${port}`,
        BOOTHHUB_DATA_DIR: dir,
        BOOTHHUB_WEBHOOK_SECRET: SECRET,
        BOOTHHUB_SUPER_ADMIN_EMAIL: SUPER.email,
        BOOTHHUB_SUPER_ADMIN_PASSWORD: SUPER.password,
        RUST_LOG: 'warn',
        // Unacked booth events are retried at 0.1, 0.2, 0.4, 0.8, 0.8 s: a dead letter in seconds.
        BOOTHHUB_WS_RETRY_BASE_MS: '100',
        // The tests log in a few dozen times from one address within minutes; the per-IP login
        // limit (10 a minute by default) is not what they test.
        BOOTHHUB_RATE_LOGIN_PER_MINUTE: '600',
        BOOTHHUB_RATE_LOGIN_BURST: '100',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (chunk) => {
      log += chunk;
    });
    this.log = () => log;
    this.child = child;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const health = await this.call('GET', '/healthz');
        if (health.status === 200) return;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the hub did not start (${binary}):\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Kills the process (SIGKILL: no goodbye to any client) and starts it again. */
  async restart() {
    await this.kill('SIGKILL');
    await this.launch();
  }

  async kill(signal) {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async stop() {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** An HTTPS call (the hub's certificate is self-signed); the body parsed if JSON. */
  call(method, path, body, { token, headers = {} } = {}) {
    const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((done, fail) => {
      const req = request(
        this.base + path,
        {
          method,
          rejectUnauthorized: false,
          headers: {
            ...(raw !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...headers,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            let parsed = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON
            }
            done({ status: res.statusCode, headers: res.headers, body: parsed });
          });
        },
      );
      req.on('error', fail);
      if (raw !== undefined) req.write(raw);
      req.end();
    });
  }

  /** As the super admin; fails the test on an unexpected status. */
  async admin(method, path, body, expected = [200, 201, 204]) {
    const answer = await this.call(method, path, body, { token: this.superToken });
    if (!expected.includes(answer.status)) {
      throw new Error(`${method} ${path} → ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }

  /** A login's status and token (the token only on 200), as a script logs in. */
  async login(email, password) {
    const answer = await this.call('POST', '/auth/login', { email, password });
    return { status: answer.status, token: answer.body?.token };
  }

  /** A signed payment webhook, as the provider sends it. */
  async pay(booking) {
    return this.webhook({
      event_id: `evt-${booking.id}`,
      booking_id: booking.id,
      status: 'SUCCESS',
      amount: booking.amount,
      currency: 'IDR',
      paid_at: new Date().toISOString(),
    });
  }

  /** Any notification, signed with the hub's webhook secret. */
  async webhook(notice) {
    const body = JSON.stringify(notice);
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex');
    return this.call('POST', '/payment/confirm', body, { headers: { 'x-signature': `t=${t},v1=${v1}` } });
  }
}
