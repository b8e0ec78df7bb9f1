// Who is logged in. The session itself is the hub's HttpOnly cookie; the UI only keeps the
// user it belongs to, asked from `GET /auth/me` at start.
import { signal } from '@preact/signals';
import { ApiError, api } from './api';
import type { User } from './model';

/** undefined: not known yet; null: nobody is logged in. */
export const user = signal<User | null | undefined>(undefined);

export async function loadSession(): Promise<void> {
  try {
    const me = await api<{ user: User }>('GET', '/auth/me');
    user.value = me.user;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) user.value = null;
    else throw err;
  }
}

export async function login(email: string, password: string): Promise<User> {
  const answer = await api<{ user: User }>('POST', '/auth/login', { email, password });
  user.value = answer.user;
  return answer.user;
}

export async function logout(): Promise<void> {
  try {
    await api('POST', '/auth/logout');
  } finally {
    user.value = null;
  }
}
