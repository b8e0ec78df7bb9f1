// The dashboard's live connection: the hub's WebSocket with the JSON subprotocol, the session
// cookie for auth. It remembers the last seq of each stream and, when the connection drops,
// reconnects by itself (1 s, 2 s, 4 s … up to 10 s) and resumes from there: nothing is missed
// and nothing is shown twice. Except on close code 4401 (the login stopped working: logout,
// expiry, password change, deactivation): then it stops for good and says so, since a
// reconnect could only be refused (contract §7). A browser shows no status for a refused
// upgrade (a 401 looks like any failed connection), so after one, and after 1008 (the user's
// role or outlet changed), the page asks the hub who is logged in before it goes on.
import { signal } from '@preact/signals';
import type { LiveEvent, ServerMessage } from './model';

export type LiveStatus = 'connecting' | 'live' | 'offline' | 'ended';

/** The hub's close code for a token that stopped working. */
export const CLOSE_REVOKED = 4401;
/** The hub's close code for a user whose role or outlet changed (reconnect with the new scope). */
export const CLOSE_RESCOPED = 1008;

/** What a client does after its socket closed with `code`: stop for good ('end'); reconnect
 * and ask whether the session still stands and what it may see ('check'); or just reconnect. */
export type CloseAction = 'end' | 'check' | 'reconnect';

export function closeAction(code: number, opened: boolean): CloseAction {
  if (code === CLOSE_REVOKED) return 'end';
  if (!opened || code === CLOSE_RESCOPED) return 'check';
  return 'reconnect';
}

/** What the client knows of its streams: the last seq seen of each. */
export interface Cursor {
  seqs: Record<string, number>;
}

/**
 * Applies a server message to the cursor. Returns the event to show, or null for a message
 * that is not a new event (a `subscribed`, an error, an event already seen).
 */
export function apply(cursor: Cursor, message: ServerMessage): LiveEvent | null {
  switch (message.type) {
    case 'subscribed':
      for (const { stream, seq } of message.streams) {
        // A fresh subscription starts at the head; a resumed one keeps its place.
        if (cursor.seqs[stream] === undefined) cursor.seqs[stream] = seq;
      }
      return null;
    case 'event': {
      const last = cursor.seqs[message.stream];
      if (last !== undefined && message.seq <= last) return null;
      cursor.seqs[message.stream] = message.seq;
      return message;
    }
    default:
      return null;
  }
}

/** The subscribe message: resume where the cursor is for the streams it knows. */
export function subscribeMessage(streams: string[], cursor: Cursor): string {
  const resume: Record<string, number> = {};
  for (const stream of streams) {
    if (cursor.seqs[stream] !== undefined) resume[stream] = cursor.seqs[stream];
  }
  return JSON.stringify({ type: 'subscribe', streams, resume });
}

/** The streams a user follows: everything for a super admin, their outlet for an admin. */
export function streamsFor(user: { role: string; outlet_id: string | null }): string[] {
  return user.role === 'super_admin' ? ['all'] : [`outlet:${user.outlet_id}`];
}

/** The wait before reconnect attempt `attempt` (0-based), in ms. */
export function backoff(attempt: number): number {
  return Math.min(1000 * 2 ** attempt, 10_000);
}

export class LiveFeed {
  readonly status = signal<LiveStatus>('connecting');
  private readonly cursor: Cursor = { seqs: {} };
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly streams: string[],
    private readonly onEvent: (event: LiveEvent) => void,
    /** Called when the hub confirms a subscription (after every connect). */
    private readonly onSubscribed: () => void = () => {},
    /** Called when a close was more than a drop: 'end' (the login is over; nothing more
     * happens) or 'check' (the session should be read again; reconnecting meanwhile). */
    private readonly onClosedBy: (action: Exclude<CloseAction, 'reconnect'>) => void = () => {},
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close(1000);
    this.socket = null;
  }

  private connect(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    this.status.value = this.attempt === 0 ? 'connecting' : 'offline';
    const socket = new WebSocket(url, 'boothhub.json');
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.attempt = 0;
      socket.send(subscribeMessage(this.streams, this.cursor));
    };
    socket.onmessage = (frame) => {
      let message: ServerMessage;
      try {
        message = JSON.parse(String(frame.data)) as ServerMessage;
      } catch {
        return;
      }
      const event = apply(this.cursor, message);
      if (event) {
        this.onEvent(event);
      } else if (message.type === 'subscribed') {
        // Live once the hub has said where each stream stands (the cursor knows its place).
        this.status.value = 'live';
        this.onSubscribed();
      } else if (message.type === 'error' && message.code === 'UNAVAILABLE') {
        // The hub could not set the subscription up (its store did not answer): without it
        // nothing would ever arrive, so start over (the close schedules the retry).
        socket.close();
      }
    };
    socket.onclose = (close) => {
      if (this.socket !== socket || this.stopped) return;
      const action = closeAction(close.code, opened);
      if (action === 'end') {
        this.stopped = true;
        this.socket = null;
        this.status.value = 'ended';
        this.onClosedBy(action);
        return;
      }
      if (action === 'check') this.onClosedBy(action);
      this.status.value = 'offline';
      this.timer = setTimeout(() => this.connect(), backoff(this.attempt++));
    };
  }
}
