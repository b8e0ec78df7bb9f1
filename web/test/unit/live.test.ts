import { describe, expect, it } from 'vitest';
import { type Cursor, apply, backoff, closeAction, streamsFor, subscribeMessage } from '../../src/live';
import type { ServerMessage } from '../../src/model';

function event(stream: string, seq: number): ServerMessage {
  return {
    type: 'event',
    stream,
    seq,
    event: 'BOOKING_CREATED',
    booking_id: 'b',
    booth_id: null,
    outlet_id: 'o',
    status: 'PENDING_PAYMENT',
    at: '2026-11-26T03:00:00Z',
    data: {},
  };
}

describe('the live cursor', () => {
  it('starts a fresh stream at its head and shows each later event once', () => {
    const cursor: Cursor = { seqs: {} };
    expect(apply(cursor, { type: 'subscribed', streams: [{ stream: 'outlet:o', seq: 7 }] })).toBeNull();
    expect(apply(cursor, event('outlet:o', 7))).toBeNull();
    expect(apply(cursor, event('outlet:o', 8))?.seq).toBe(8);
    expect(apply(cursor, event('outlet:o', 8))).toBeNull();
    expect(apply(cursor, event('outlet:o', 9))?.seq).toBe(9);
    expect(cursor.seqs).toEqual({ 'outlet:o': 9 });
  });

  it('resumes from the last seq after a reconnect and keeps its place', () => {
    const cursor: Cursor = { seqs: { 'outlet:o': 9 } };
    expect(JSON.parse(subscribeMessage(['outlet:o', 'all'], cursor))).toEqual({
      type: 'subscribe',
      streams: ['outlet:o', 'all'],
      resume: { 'outlet:o': 9 },
    });
    // The hub's `subscribed` names the head; the resumed stream keeps its own place.
    apply(cursor, { type: 'subscribed', streams: [{ stream: 'outlet:o', seq: 12 }] });
    expect(cursor.seqs['outlet:o']).toBe(9);
    expect(apply(cursor, event('outlet:o', 10))?.seq).toBe(10);
  });

  it('ignores errors', () => {
    expect(apply({ seqs: {} }, { type: 'error', code: 'FORBIDDEN', message: 'no' })).toBeNull();
  });

  it('follows everything for a super admin and the own outlet for an admin', () => {
    expect(streamsFor({ role: 'super_admin', outlet_id: null })).toEqual(['all']);
    expect(streamsFor({ role: 'admin', outlet_id: 'o1' })).toEqual(['outlet:o1']);
  });

  it('backs off 1, 2, 4, 8 s and then every 10 s', () => {
    expect([0, 1, 2, 3, 4, 10].map(backoff)).toEqual([1000, 2000, 4000, 8000, 10000, 10000]);
  });

  it('stops for good when the hub ended the login (4401), and reconnects on any other close', () => {
    expect(closeAction(4401, true)).toBe('end');
    for (const code of [1000, 1001, 1006, 1009, 4008, 4409]) expect(closeAction(code, true), String(code)).toBe('reconnect');
  });

  it('asks who is logged in after a refused upgrade or a change of scope, and reconnects', () => {
    // A refused upgrade (401: the session is over; or the hub is down) reaches the page as 1006.
    expect(closeAction(1006, false)).toBe('check');
    expect(closeAction(1008, true)).toBe('check');
  });
});
