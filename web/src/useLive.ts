// A page's state that is loaded once and then kept current by the live stream, without a gap:
// the snapshot is read only after the subscription stands, and every event from then on is
// applied on top of it, in order (those that arrive while the snapshot loads wait for it).
// Applying an event that the snapshot already reflects sets what it already says, so the
// state after the last event is the hub's state. When the hub ends the login (close 4401) the
// app goes to the login page. When the socket could not be opened, or the hub changed the
// user's scope (1008), the user is read again: a 401 there ends the session too, and a new
// role or outlet starts the feed over on the streams it now allows.
import { useEffect, useRef, useState } from 'preact/hooks';
import { sessionEnded } from './api';
import { LiveFeed, type LiveStatus, streamsFor } from './live';
import type { LiveEvent } from './model';
import { loadSession, user } from './session';

export interface LiveState<T> {
  data: T | undefined;
  error: unknown;
  status: LiveStatus;
  /** Changes the state (after the snapshot, in order with the events). */
  update: (change: (state: T) => T) => void;
}

export function useLiveState<T>(
  load: () => Promise<T>,
  apply: (state: T, event: LiveEvent) => T,
  onEvent: (event: LiveEvent) => void = () => {},
): LiveState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const waiting = useRef<((state: T) => T)[] | null>([]);
  const update = (change: (state: T) => T) => {
    if (waiting.current) waiting.current.push(change);
    else setData((current) => (current === undefined ? current : change(current)));
  };
  const me = user.value;
  useEffect(() => {
    if (!me) return;
    let started = false;
    let cancelled = false;
    waiting.current = [];
    const live = new LiveFeed(
      streamsFor(me),
      (event) => {
        onEvent(event);
        update((state) => apply(state, event));
      },
      () => {
        if (started) return;
        started = true;
        load()
          .then((snapshot) => {
            if (cancelled) return;
            let state = snapshot;
            for (const change of waiting.current ?? []) state = change(state);
            waiting.current = null;
            setData(state);
          })
          .catch((err) => !cancelled && setError(err));
      },
      (action) => {
        if (action === 'end') sessionEnded();
        else loadSession().catch(() => {});
      },
    );
    const unsubscribe = live.status.subscribe(setStatus);
    live.start();
    return () => {
      cancelled = true;
      unsubscribe();
      live.stop();
    };
  }, [me?.id, me?.role, me?.outlet_id]);
  return { data, error, status, update };
}
