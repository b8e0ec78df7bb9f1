// The hub's HTTP API, same origin, authenticated by the session cookie. State-changing calls
// carry the CSRF token the hub set next to the session cookie. A 401 means the session is
// over (expired, logged out elsewhere, revoked): the app goes back to the login page with a
// message. The one exception is INVALID_CREDENTIALS, an answer about a password that was
// typed (a login, or the current password when changing one's own), not about the session.

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: { fields?: Record<string, string>; status?: string } & Record<string, unknown>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ApiErrorBody['details'] = undefined,
  ) {
    super(message);
  }

  /** The server's message for each invalid field (HTTP 422). */
  get fields(): Record<string, string> {
    return this.details?.fields ?? {};
  }
}

export const CSRF_COOKIE = 'boothhub_csrf';

/** A cookie's value from a `document.cookie` string. */
export function cookie(all: string, name: string): string | undefined {
  for (const pair of all.split(';')) {
    const [key, ...rest] = pair.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

let onEnded: () => void = () => {};

/** What to do when the hub says the session is over (set once by the app shell). */
export function whenSessionEnds(handler: () => void): void {
  onEnded = handler;
}

/** The session is over: said by a 401 here, or by the live socket's close code 4401. */
export function sessionEnded(): void {
  onEnded();
}

/** Whether a failed call's answer means that the session is over. */
export function endsSession(status: number, code: string): boolean {
  return status === 401 && code !== 'INVALID_CREDENTIALS';
}

/** Turns a failed response into an `ApiError`, whatever its body. */
export async function toError(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { error?: ApiErrorBody };
    if (body.error) {
      return new ApiError(response.status, body.error.code, body.error.message, body.error.details);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(response.status, 'HTTP_' + response.status, response.statusText || 'request failed');
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') {
    const token = cookie(document.cookie, CSRF_COOKIE);
    if (token) headers['x-csrf-token'] = token;
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err));
  }
  if (!response.ok) {
    const error = await toError(response);
    if (endsSession(error.status, error.code)) sessionEnded();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** Builds a query string from the defined values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? '?' + text : '';
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Every item of a list, page after page (bounded, for the dashboard's counts). */
export async function all<T>(path: string, params: Record<string, string | undefined>, max = 5000): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await api<Page<T>>('GET', path + query({ ...params, limit: 200, cursor }));
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && items.length < max);
  return items;
}
