import { describe, expect, it } from 'vitest';
import { ROUTES, allowed, resolve, sidebar } from '../../src/routes';

describe('the route table', () => {
  it.each([
    ['/', 'dashboard', {}],
    ['/login', 'login', {}],
    ['/bookings', 'bookings', {}],
    ['/bookings/new', 'bookingNew', {}],
    ['/bookings/abc-123', 'booking', { id: 'abc-123' }],
    ['/refunds', 'refunds', {}],
    ['/booths', 'booths', {}],
    ['/audit', 'audit', {}],
    ['/outlets', 'outlets', {}],
    ['/admin-users', 'adminUsers', {}],
    ['/config', 'config', {}],
    ['/account/password', 'password', {}],
  ])('%s opens %s', (path, page, params) => {
    const found = resolve(path);
    expect(found?.route.page).toBe(page);
    expect(found?.params).toEqual(params);
  });

  it.each(['/nope', '/bookings/a/b', '/outlets/1'])('%s is not a page', (path) => {
    expect(resolve(path)).toBeNull();
  });

  it('gives an outlet admin no super-admin page', () => {
    const superOnly = ROUTES.filter((r) => r.roles.length === 1).map((r) => r.page);
    expect(superOnly.sort()).toEqual(['adminUsers', 'config', 'outlets']);
    for (const route of ROUTES) {
      expect(allowed(route, 'admin')).toBe(route.roles.length === 0 || route.roles.includes('admin'));
    }
    expect(sidebar('admin').map((r) => r.page)).toEqual(['dashboard', 'bookings', 'refunds', 'booths', 'audit']);
    expect(sidebar('super_admin').map((r) => r.page)).toEqual([
      'dashboard',
      'bookings',
      'refunds',
      'booths',
      'audit',
      'outlets',
      'adminUsers',
      'config',
    ]);
  });

  it('lets every signed-in role change its own password, outside the sidebar', () => {
    const route = resolve('/account/password')?.route;
    expect(route && allowed(route, 'admin')).toBe(true);
    expect(route && allowed(route, 'super_admin')).toBe(true);
    expect(route && allowed(route, undefined)).toBe(false);
    expect(sidebar('admin').some((r) => r.page === 'password')).toBe(false);
  });

  it('opens only the login page to a visitor', () => {
    expect(ROUTES.filter((r) => allowed(r, undefined)).map((r) => r.page)).toEqual(['login']);
    expect(sidebar(undefined)).toEqual([]);
  });
});
