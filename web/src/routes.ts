// The route table, shared with the hub (which answers every path here with the app shell):
// the URL is the source of truth, and each route names the roles that may open it.
import table from './routes.json';

export type Role = 'super_admin' | 'admin';

export interface Route {
  path: string;
  page: string;
  roles: Role[];
  nav?: string;
}

export const BASE: string = table.base;
export const ROUTES: Route[] = table.routes as Route[];

/** Matches a path against a pattern like `/bookings/:id`; returns the parameters. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean);
  const have = path.split('/').filter(Boolean);
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) params[want[i].slice(1)] = decodeURIComponent(have[i]);
    else if (want[i] !== have[i]) return null;
  }
  return params;
}

/** The route for a path (fixed segments win over parameters: `/bookings/new`). */
export function resolve(path: string): { route: Route; params: Record<string, string> } | null {
  for (const route of ROUTES) {
    const params = match(route.path, path);
    if (params && !route.path.includes(':')) return { route, params };
  }
  for (const route of ROUTES) {
    const params = match(route.path, path);
    if (params) return { route, params };
  }
  return null;
}

/** Whether a role may open a route (the login page is open to everyone). */
export function allowed(route: Route, role: Role | undefined): boolean {
  return route.roles.length === 0 || (role !== undefined && route.roles.includes(role));
}

/** The sidebar for a role, in table order. */
export function sidebar(role: Role | undefined): Route[] {
  return ROUTES.filter((r) => r.nav && allowed(r, role) && r.roles.length > 0);
}
