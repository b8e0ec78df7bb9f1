// The outlets the user may see (all for a super admin, their own for an admin), loaded once
// per login: names and time zones for every page.
import { signal } from '@preact/signals';
import { all } from './api';
import type { Outlet } from './model';

export const outlets = signal<Outlet[]>([]);

export async function loadOutlets(): Promise<void> {
  outlets.value = await all<Outlet>('/outlets', {});
}

export function outletName(id: string | null | undefined): string {
  return outlets.value.find((o) => o.id === id)?.name ?? id ?? '—';
}

/** The outlet's time zone (Jakarta when unknown). */
export function timezoneOf(id: string | null | undefined): string {
  return outlets.value.find((o) => o.id === id)?.timezone ?? 'Asia/Jakarta';
}
