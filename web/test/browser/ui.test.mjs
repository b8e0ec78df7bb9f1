// The backoffice in real headless Chromium against a real hub: logins and role-aware
// sidebars, creating an outlet, an admin, a booth and a booking through the UI, a webhook
// payment appearing live on an open dashboard, an override in the audit trail, the language
// switch, session expiry, CSRF; operators' work (issue #13): outlet prices and the walk-in
// page, a booking's ticket whose QR code is decoded here, editing, deactivating (a signed-in
// admin is sent to the login page, without reconnecting) and setting passwords of admins, the
// last super admin kept, one's own password, booth renaming, deactivation and token rotation.
// Screenshots of every page go to web/screenshots/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import jsQR from 'jsqr';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import WebSocket from 'ws';
import { Hub, SUPER } from './hub.mjs';

const SHOTS = resolve(import.meta.dirname, '../../screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN = { name: 'Sari Admin', email: 'sari@example.com', password: 'sari-password-1' };

let hub;
let browser;
const state = {};

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  hub = await Hub.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  await hub?.stop();
});

async function newPage(viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: resolve(SHOTS, `${name}.png`), fullPage: true });
}

async function login(page, { email, password }) {
  await page.goto(`${hub.base}/app/login`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('nav.sidebar');
}

/** A customer's online booking (anonymous), `hours` from now so that slots do not clash. */
async function book(name, hours) {
  const created = await hub.call('POST', '/booking', {
    user: { name, phone: '0812 0000 1111', email: `${name.toLowerCase()}@example.com` },
    outlet_id: state.outletId,
    booking_time: new Date(Date.now() + hours * 3_600_000).toISOString(),
    amount: 75000,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

/** The text of the QR code that `locator` shows, read from its pixels on screen. */
async function scanQr(locator) {
  const png = PNG.sync.read(await locator.screenshot());
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code, 'the QR code on screen decodes');
  return code.data;
}

/** Opens a WSS connection as a booth would; resolves once open (rejects if refused). */
async function boothSocket(token) {
  const socket = new WebSocket(`${hub.base.replace('https', 'wss')}/ws`, 'boothhub.json', {
    headers: { authorization: `Bearer ${token}` },
    rejectUnauthorized: false,
  });
  socket.closed = new Promise((done) => socket.once('close', (code) => done(code)));
  await new Promise((done, fail) => {
    socket.once('open', done);
    socket.once('error', fail);
  });
  return socket;
}

/** An admin user made through the API (as a script would), for a test of its own. */
async function makeAdmin(name, email, password, outletId = state.outletId) {
  return hub.admin('POST', '/admin-users', { name, email, password, role: 'admin', outlet_id: outletId });
}

async function navItems(page) {
  return page.$$eval('nav.sidebar [data-nav]', (links) => links.map((l) => l.getAttribute('data-nav')));
}

test('the super admin logs in and sees every page in the sidebar', async () => {
  const page = await newPage();
  await page.goto(`${hub.base}/app/`);
  await page.waitForSelector('form[aria-label]');
  assert.match(page.url(), /\/app\/login$/, 'an anonymous visit lands on the login page');
  await shot(page, '01-login');
  await page.fill('input[name=email]', SUPER.email);
  await page.fill('input[name=password]', 'wrong-password');
  await page.click('button[type=submit]');
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /salah/, 'wrong password, in Indonesian');
  await login(page, SUPER);
  assert.deepEqual(await navItems(page), [
    'dashboard',
    'bookings',
    'refunds',
    'booths',
    'audit',
    'outlets',
    'adminUsers',
    'config',
  ]);
  assert.equal(await page.getAttribute('.who [data-role]', 'data-role'), 'super_admin');
  state.superPage = page;
});

test('the super admin creates an outlet, an admin and a booth through the UI', async () => {
  const page = state.superPage;
  await page.click('[data-nav=outlets]');
  await page.fill('form[data-form=outlet] input[name=name]', 'Mall Kota Kasablanka');
  await page.fill('form[data-form=outlet] input[name=location]', 'Jakarta Selatan');
  await page.selectOption('form[data-form=outlet] select[name=timezone]', 'Asia/Makassar');
  await page.click('form[data-form=outlet] button[type=submit]');
  const row = page.locator('[data-list=outlets] tr', { hasText: 'Mall Kota Kasablanka' });
  await row.waitFor();
  assert.match(await row.innerText(), /WITA/);
  state.outletId = await row.getAttribute('data-outlet');
  // A server-side field error is shown next to its field.
  await page.fill('form[data-form=outlet] input[name=name]', 'Tanpa Zona');
  await page.evaluate(() => {
    const select = document.querySelector('form[data-form=outlet] select[name=timezone]');
    const bogus = new Option('Mars/Olympus', 'Mars/Olympus');
    select.add(bogus);
    select.value = 'Mars/Olympus';
    select.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await page.click('form[data-form=outlet] button[type=submit]');
  await page.locator('form[data-form=outlet] [data-field=timezone]').waitFor();
  await shot(page, '02-outlets');

  await page.click('[data-nav=adminUsers]');
  await page.click('form[data-form=user] button[type=submit]');
  await page.locator('form[data-form=user] [data-field=email]').waitFor();
  await page.fill('form[data-form=user] input[name=name]', ADMIN.name);
  await page.fill('form[data-form=user] input[name=email]', ADMIN.email);
  await page.fill('form[data-form=user] input[name=password]', ADMIN.password);
  await page.selectOption('form[data-form=user] select[name=outlet_id]', state.outletId);
  await page.click('form[data-form=user] button[type=submit]');
  await page.locator(`[data-list=users] tr[data-user="${ADMIN.email}"]`).waitFor();
  await shot(page, '03-admin-users');

  await page.click('[data-nav=booths]');
  await page.selectOption('form[data-form=booth] select[name=outlet_id]', state.outletId);
  await page.fill('form[data-form=booth] input[name=name]', 'Booth A');
  await page.click('form[data-form=booth] button[type=submit]');
  const token = await page.locator('[data-token]').innerText();
  assert.match(token, /^bhb_/, 'the booth token is shown once');
  state.boothToken = token;
  await page.locator('[data-list=booths] tr', { hasText: 'Booth A' }).waitFor();
  state.boothId = await page.locator('[data-list=booths] tr', { hasText: 'Booth A' }).getAttribute('data-booth');
  await shot(page, '04-booths');
  await page.reload();
  await page.locator('[data-list=booths]').waitFor();
  assert.equal(await page.locator('[data-token]').count(), 0, 'the token is not shown again');

  await page.click('[data-nav=config]');
  await page.fill('input[name=session_duration_minutes]', '500');
  await page.click('form[data-form=config] button[type=submit]');
  await page.locator('[data-field=session_duration_minutes]').waitFor();
  await page.fill('input[name=session_duration_minutes]', '20');
  await page.click('form[data-form=config] button[type=submit]');
  await page.getByRole('status').filter({ hasText: /Tersimpan/ }).waitFor();
  await shot(page, '05-config');
});

test('an outlet admin sees only their pages, and a deep link to a super-admin page bounces', async () => {
  const page = await newPage();
  await login(page, ADMIN);
  assert.deepEqual(await navItems(page), ['dashboard', 'bookings', 'refunds', 'booths', 'audit']);
  await page.goto(`${hub.base}/app/config`);
  await page.locator('.flash').waitFor();
  assert.match(page.url(), /\/app\/$/, 'bounced to the dashboard');
  await shot(page, '06-admin-bounced');
  // The API refuses anyway.
  const refused = await page.evaluate(async () => (await fetch('/config/system')).status);
  assert.equal(refused, 403);
  state.adminPage = page;
});

test('a walk-in booking is created through the UI', async () => {
  const page = state.adminPage;
  await page.click('[data-nav=bookings]');
  await page.click('[data-action=new-booking]');
  await page.click('form[data-form=booking] button[type=submit]');
  await page.locator('[data-field="user.name"]').waitFor();
  await page.fill('input[name="user.name"]', 'Budi');
  await page.fill('input[name="user.phone"]', 'abc');
  await page.fill('input[name="user.email"]', 'budi@example.com');
  await page.click('form[data-form=booking] button[type=submit]');
  await page.locator('[data-field="user.phone"]').waitFor();
  await shot(page, '07-booking-form-errors');
  await page.fill('input[name="user.phone"]', '+62 812 5555 0101');
  await page.selectOption('select[name=booth_id]', state.boothId);
  await page.click('form[data-form=booking] button[type=submit]');
  await page.locator('dl.facts').waitFor();
  assert.match(page.url(), /\/app\/bookings\/[0-9a-f-]{36}\?walkin=1$/, 'the booking opens, as a walk-in');
  await page.locator('[data-walkin]').waitFor();
  assert.equal(await page.getAttribute('h1 [data-status]', 'data-status'), 'AWAITING_CUSTOMER');
  assert.match(await page.locator('dl.facts').innerText(), /WITA/, 'times in the outlet zone');
  await page.locator('[data-list=history] [data-event=BOOKING_CREATED]').waitFor();
  await shot(page, '08-booking');
  await page.click('[data-nav=bookings]');
  await page.locator('[data-list=bookings] tr[data-booking]').first().waitFor();
  await page.selectOption('select[name=status]', 'DONE');
  await page.locator('.empty').waitFor();
  assert.match(page.url(), /status=DONE/, 'filters live in the URL');
  await page.selectOption('select[name=status]', 'AWAITING_CUSTOMER');
  await page.locator('[data-list=bookings] tr[data-booking]').first().waitFor();
  await shot(page, '09-bookings');
});

test('a booking paid through the signed webhook appears live on the open dashboard', async () => {
  const page = state.adminPage;
  await page.click('[data-nav=dashboard]');
  await page.locator('[data-live=live]').waitFor();
  await page.locator('[data-count=AWAITING_CUSTOMER]').waitFor();
  const before = Number(await page.locator('[data-count=AWAITING_CUSTOMER]').innerText());
  const booking = await book('Citra', 1);
  const paid = await hub.pay(booking);
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  const started = Date.now();
  await page.locator(`.feed [data-event=PAYMENT_CONFIRMED][data-booking="${booking.id}"]`).waitFor({ timeout: 5000 });
  const seen = Date.now() - started;
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-count=AWAITING_CUSTOMER]')?.textContent) === n,
    before + 1,
  );
  assert.ok(seen < 1000, `on screen ${seen} ms after the webhook answered`);
  await shot(page, '10-dashboard-live');
  state.paidBooking = booking;
});

test('a booth coming online and going offline shows on the open dashboard', async () => {
  const page = state.adminPage;
  const tile = (name) => page.locator(`[data-tile=${name}] .tile-value`);
  await page.locator('[data-live=live]').waitFor();
  assert.equal(await tile('online').innerText(), '0');
  // The booth connects as a real booth does: WSS, its bearer token, MessagePack.
  const booth = new WebSocket(`${hub.base.replace('https', 'wss')}/ws`, 'boothhub.msgpack', {
    headers: { authorization: `Bearer ${state.boothToken}` },
    rejectUnauthorized: false,
  });
  await new Promise((done, fail) => {
    booth.once('open', done);
    booth.once('error', fail);
  });
  await page.waitForFunction(() => document.querySelector('[data-tile=online] .tile-value')?.textContent === '1');
  assert.equal(await tile('offline').innerText(), '0');
  await page.locator('.feed [data-event=BOOTH_ONLINE]').first().waitFor();
  booth.close();
  await page.waitForFunction(() => document.querySelector('[data-tile=offline] .tile-value')?.textContent === '1');
  await page.locator('.feed [data-event=BOOTH_OFFLINE]').first().waitFor();
});

test("a booth that never acks ends in the booths page's dead letters", async () => {
  const page = state.adminPage;
  // A booth that receives but never acknowledges (a broken kiosk app).
  const booth = new WebSocket(`${hub.base.replace('https', 'wss')}/ws`, 'boothhub.json', {
    headers: { authorization: `Bearer ${state.boothToken}` },
    rejectUnauthorized: false,
  });
  const received = [];
  booth.on('message', (data) => received.push(JSON.parse(String(data))));
  await new Promise((done, fail) => {
    booth.once('open', done);
    booth.once('error', fail);
  });
  const booking = await hub.admin('POST', '/booking', {
    user: { name: 'Eka', phone: '0812 0000 3333', email: 'eka@example.com' },
    outlet_id: state.outletId,
    booth_id: state.boothId,
    booking_time: new Date(Date.now() + 5 * 3_600_000).toISOString(),
    amount: 50000,
    paid: true,
  });
  await page.locator(`.feed [data-event=DELIVERY_FAILED]`).first().waitFor({ timeout: 15_000 });
  await page.click('[data-nav=booths]');
  const row = page.locator(`[data-list=booths] tr[data-booth="${state.boothId}"]`);
  await row.locator('[data-online=true]').waitFor();
  booth.close();
  await row.locator('[data-online=false]').waitFor();
  assert.ok(received.some((m) => m.type === 'event' && m.booking_id === booking.id), 'the booth got it');
  const letter = page.locator('[data-list=dead-letters] tr[data-letter]').first();
  await letter.waitFor();
  assert.match(await letter.innerText(), /Booth A/);
  assert.match(await letter.innerText(), /6/, 'six deliveries');
  await shot(page, '10b-dead-letters');
  await page.click('[data-nav=dashboard]');
});

test('the dashboard reconnects by itself and resumes from its last seq', async () => {
  const page = state.adminPage;
  await page.locator('[data-live=live]').waitFor();
  await hub.restart();
  // The page retries at 1, 2, 4, 8 s (and Chromium may hold back reconnects after failures).
  // Published right after the restart, before or while the dashboard reconnects.
  const booking = await book('Dewi', 2);
  try {
    await page.locator(`.feed [data-event=BOOKING_CREATED][data-booking="${booking.id}"]`).waitFor({ timeout: 45_000 });
  } catch (err) {
    // Say what the page and the hub were doing, for an intermittent miss seen in CI.
    await shot(page, 'failed-resume');
    const live = await page.getAttribute('[data-live]', 'data-live').catch(() => 'none');
    throw new Error(`${err.message}\nurl ${page.url()}, live badge ${live}\nhub log:\n${hub.log().slice(-3000)}`);
  }
  await page.locator('[data-live=live]').waitFor();
  assert.equal(await page.locator(`.feed [data-booking="${booking.id}"]`).count(), 1, 'shown once');
  const seqs = await page.$$eval('.feed [data-seq]', (items) => items.map((i) => i.getAttribute('data-seq')));
  assert.equal(new Set(seqs).size, seqs.length, `nothing shown twice after the resume: ${seqs}`);
});

test('an override with a reason shows in the audit trail', async () => {
  const page = state.adminPage;
  await page.goto(`${hub.base}/app/bookings/${state.paidBooking.id}`);
  await page.locator('form[data-form=override]').waitFor();
  await page.click('[data-action=override]');
  await page.locator('form[data-form=override] [data-field=reason]').waitFor();
  await page.selectOption('form[data-form=override] select[name=status]', 'DONE');
  await page.fill('form[data-form=override] textarea[name=reason]', 'Printer macet, sesi diulang');
  await page.click('[data-action=override]');
  await page.getByRole('alertdialog').waitFor();
  await shot(page, '11-override-confirm');
  await page.click('[data-action=confirm-override]');
  const entry = page.locator('[data-list=audit] tr[data-audit]');
  await entry.waitFor();
  assert.match(await entry.innerText(), /Printer macet, sesi diulang/);
  await page.locator('h1 [data-status=DONE]').waitFor();
  await page.locator('[data-list=history] [data-event=SESSION_OVERRIDE]').waitFor();
  const history = await page.$$eval('[data-list=history] [data-event]', (items) =>
    items.map((i) => i.getAttribute('data-event')),
  );
  assert.deepEqual(history, ['BOOKING_CREATED', 'PAYMENT_CONFIRMED', 'SESSION_OVERRIDE'], 'the event history');
  await shot(page, '12-booking-audit');
});

test('the language switches between Indonesian and English', async () => {
  const page = state.adminPage;
  await page.click('[data-nav=dashboard]');
  assert.equal(await page.locator('[data-nav=dashboard]').innerText(), 'Dasbor');
  await page.click('nav [data-action=switch-language]');
  assert.equal(await page.locator('[data-nav=dashboard]').innerText(), 'Dashboard');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await page.reload();
  await page.locator('[data-nav=dashboard]').waitFor();
  assert.equal(await page.locator('[data-nav=dashboard]').innerText(), 'Dashboard', 'the choice is kept');
  await shot(page, '13-dashboard-english');
  await page.click('nav [data-action=switch-language]');
  assert.equal(await page.locator('[data-nav=dashboard]').innerText(), 'Dasbor');
});

test('a state-changing call with the cookie but without the CSRF token is refused', async () => {
  const page = state.adminPage;
  const status = await page.evaluate(async (outlet) => {
    const response = await fetch('/booths', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outlet_id: outlet, name: 'Forged' }),
    });
    return response.status;
  }, state.outletId);
  assert.equal(status, 403);
});

test('pages fit a tablet', async () => {
  const page = await newPage({ width: 820, height: 1180 });
  await login(page, SUPER);
  await page.locator('[data-count]').first().waitFor();
  await shot(page, '14-tablet-dashboard');
  await page.click('[data-nav=bookings]');
  await page.locator('[data-list=bookings]').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, 'no sideways scrolling');
  await shot(page, '15-tablet-bookings');
});

test('an ended session goes back to the login page with a message, whatever the page does next, and logout works', async () => {
  const page = state.adminPage;
  /** Ends the page's login elsewhere (as when it expires, or is logged out on another device). */
  const endLogin = async () => {
    const session = (await page.context().cookies()).find((c) => c.name === 'boothhub_session');
    assert.ok(session?.httpOnly && session.secure && session.sameSite === 'Strict');
    assert.equal((await hub.call('POST', '/auth/logout', undefined, { token: session.value })).status, 204);
  };
  // On a page without a live socket, the next API call answers 401.
  await page.click('[data-nav=bookings]');
  await page.locator('[data-list=bookings]').waitFor();
  await endLogin();
  await page.click('[data-action=new-booking]');
  await page.locator('.flash').waitFor();
  assert.match(page.url(), /\/app\/login\?expired=1$/);
  await shot(page, '16-session-expired');

  // The dashboard's socket is refused at the upgrade (the browser sees no 401 there): the page
  // asks the hub who is logged in instead of retrying for ever.
  await login(page, ADMIN);
  await page.click('[data-nav=bookings]');
  await page.locator('[data-list=bookings]').waitFor();
  await endLogin();
  await page.click('[data-nav=dashboard]');
  await page.waitForURL(/\/app\/login\?expired=1$/, { timeout: 10_000 });
  await page.locator('.flash').waitFor();

  await login(page, ADMIN);
  await page.click('nav [data-action=logout]');
  await page.waitForURL(/\/app\/login/);
  await page.goto(`${hub.base}/app/bookings`);
  await page.waitForURL(/\/app\/login/);
});

test('the hub serves the shell for app routes and caches hashed assets', async () => {
  const shell = await hub.call('GET', '/app/bookings/123e4567-e89b-42d3-a456-426614174000');
  assert.equal(shell.status, 200);
  assert.equal(shell.headers['cache-control'], 'no-cache');
  assert.match(shell.headers['content-security-policy'], /default-src 'self'/);
  const script = /src="(\/app\/assets\/[^"]+\.js)"/.exec(shell.body)?.[1];
  assert.ok(script);
  const asset = await hub.call('GET', script);
  assert.equal(asset.status, 200);
  assert.match(asset.headers['cache-control'], /immutable/);
  assert.equal((await hub.call('GET', '/app/account/password')).status, 200, 'a route added to routes.json is served');
  assert.equal((await hub.call('GET', '/app/no-such-page')).status, 404);
  assert.equal((await hub.call('GET', '/app/assets/missing.js')).status, 404);
});

test("the super admin sets an outlet's price and active flag on the outlets page", async () => {
  const page = state.superPage;
  await page.goto(`${hub.base}/app/outlets`);
  await page.fill('form[data-form=outlet] input[name=name]', 'Outlet Berharga');
  await page.fill('form[data-form=outlet] input[name=price]', 'enam puluh');
  await page.click('form[data-form=outlet] button[type=submit]');
  await page.locator('form[data-form=outlet] [data-field=price]').waitFor();
  await page.fill('form[data-form=outlet] input[name=price]', '65.000');
  await page.click('form[data-form=outlet] button[type=submit]');
  const priced = page.locator('[data-list=outlets] tr', { hasText: 'Outlet Berharga' });
  await priced.waitFor();
  assert.equal(await priced.locator('[data-price]').getAttribute('data-price'), '65000');
  assert.match(await priced.innerText(), /Rp 65\.000/);
  state.pricedOutletId = await priced.getAttribute('data-outlet');

  // A second outlet, made without a price, is then closed for bookings.
  await page.fill('form[data-form=outlet] input[name=name]', 'Outlet Tutup');
  await page.click('form[data-form=outlet] button[type=submit]');
  const closed = page.locator('[data-list=outlets] tr', { hasText: 'Outlet Tutup' });
  await closed.waitFor();
  assert.equal(await closed.locator('[data-price]').getAttribute('data-price'), '');
  state.closedOutletId = await closed.getAttribute('data-outlet');
  await closed.locator('[data-action=edit-outlet]').click();
  const edit = page.locator('form[data-form=outlet-edit]');
  await edit.locator('input[name=active]').uncheck();
  await edit.locator('button[type=submit]').click();
  await page.locator(`[data-list=outlets] tr[data-outlet="${state.closedOutletId}"][data-active=false]`).waitFor();
  await shot(page, '17-outlets-price-active');

  const listed = await hub.admin('GET', '/outlets');
  const byId = Object.fromEntries(listed.items.map((o) => [o.id, o]));
  assert.deepEqual([byId[state.pricedOutletId].price, byId[state.pricedOutletId].active], [65000, true]);
  assert.deepEqual([byId[state.closedOutletId].price, byId[state.closedOutletId].active], [null, false]);
  // The priced outlet needs a booth before it can take a booking.
  await hub.admin('POST', '/booths', { outlet_id: state.pricedOutletId, name: 'Booth Harga' });
});

test("the walk-in page shows the outlet's price and books at it without sending an amount", async () => {
  const page = state.superPage;
  await page.goto(`${hub.base}/app/bookings/new`);
  await page.selectOption('form[data-form=booking] select[name=outlet_id]', state.closedOutletId);
  const refusal = page.locator('form[data-form=booking] [data-error=OUTLET_INACTIVE]');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /nonaktif/);
  assert.equal(await page.locator('form[data-form=booking] button[type=submit]').isDisabled(), true);
  await shot(page, '18-walk-in-inactive-outlet');

  await page.selectOption('form[data-form=booking] select[name=outlet_id]', state.pricedOutletId);
  await page.locator('form[data-form=booking] .price[data-price="65000"]').waitFor();
  assert.match(await page.locator('form[data-form=booking] .price').innerText(), /Rp 65\.000/);
  assert.equal(await page.locator('input[name=amount]').count(), 0, 'no amount to type at a priced outlet');
  assert.equal(await refusal.count(), 0);
  await page.fill('input[name="user.name"]', 'Fajar');
  await page.fill('input[name="user.phone"]', '0812 7777 0001');
  await page.fill('input[name="user.email"]', 'fajar@example.com');
  await shot(page, '19-walk-in-priced');
  const sent = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/booking');
  await page.click('form[data-form=booking] button[type=submit]');
  const body = JSON.parse((await sent).postData());
  assert.equal('amount' in body, false, `no amount sent: ${JSON.stringify(body)}`);
  await page.locator('dl.facts').waitFor();
  state.walkInId = /\/bookings\/([0-9a-f-]{36})/.exec(page.url())[1];
  const booking = await hub.admin('GET', `/session/${state.walkInId}/status`);
  assert.equal(booking.amount, 65000, "booked at the outlet's price");
  assert.equal(booking.status, 'AWAITING_CUSTOMER');
  assert.match(await page.locator('dl.facts').innerText(), /Rp 65\.000/);
});

test("a walk-in booking's ticket shows its qr_token as a QR code, and prints alone 58 mm wide", async () => {
  const page = state.superPage;
  const booking = await hub.admin('GET', `/session/${state.walkInId}/status`);
  const qr = page.locator(`[data-ticket="${booking.id}"] [data-qr=booking]`);
  await qr.waitFor();
  assert.equal(await scanQr(qr), booking.qr_token, "the QR code on screen is the booking's qr_token");
  assert.match(booking.qr_token, new RegExp(`^${booking.id}\\.`));
  await shot(page, '20-walk-in-ticket');

  await page.emulateMedia({ media: 'print' });
  const ticket = page.locator('.ticket');
  const width = await ticket.evaluate((el) => el.getBoundingClientRect().width);
  assert.ok(Math.abs(width - (58 * 96) / 25.4) < 1, `the printed ticket is 58 mm wide (${width} px)`);
  for (const hidden of ['nav.sidebar', 'dl.facts', '[data-action=print-ticket]', 'form[data-form=override]']) {
    assert.equal(await page.locator(hidden).isVisible(), false, `${hidden} is not printed`);
  }
  assert.equal(await scanQr(qr), booking.qr_token, 'the printed QR code scans too');
  await shot(page, '21-ticket-print');
  const pdf = (await page.pdf({ preferCSSPageSize: true })).toString('latin1');
  const boxes = [...pdf.matchAll(/\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/g)];
  assert.equal(boxes.length, 1, 'one page of paper');
  assert.ok(Math.abs(Number(boxes[0][1]) - (58 * 72) / 25.4) < 1, `paper 58 mm wide (${boxes[0][1]} pt)`);
  await page.emulateMedia({ media: 'screen' });
});

test('a deactivated admin signed in elsewhere is sent to the login page at once and does not reconnect', async () => {
  const rina = { name: 'Rina', email: 'rina@example.com', password: 'rina-password-1' };
  await makeAdmin(rina.name, rina.email, rina.password);
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  // Timers in Rina's page run on a clock the test moves: a reconnect loop would show at once.
  await context.clock.install();
  const rinaPage = await context.newPage();
  const sockets = [];
  rinaPage.on('websocket', (socket) => sockets.push(socket));
  await login(rinaPage, rina);
  await rinaPage.locator('[data-live=live]').waitFor();
  const unauthorized = [];
  rinaPage.on('response', (r) => r.status() === 401 && unauthorized.push(r.url()));
  assert.equal(sockets.length, 1);

  const page = state.superPage;
  await page.goto(`${hub.base}/app/admin-users`);
  const row = page.locator(`[data-list=users] tr[data-user="${rina.email}"]`);
  await row.locator('[data-action=edit-user]').click();
  await page.fill('form[data-form=user-edit] input[name=name]', 'Rina Putri');
  await page.click('form[data-form=user-edit] button[type=submit]');
  await row.filter({ hasText: 'Rina Putri' }).waitFor();

  await row.locator('[data-action=deactivate]').click();
  const dialog = page.getByRole('alertdialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Rina Putri/);
  await shot(page, '22-admin-deactivate-confirm');
  await dialog.locator('[data-action=confirm]').click();
  await page.locator(`[data-list=users] tr[data-user="${rina.email}"][data-active=false]`).waitFor();

  // The hub closes Rina's socket with 4401 (within 2 s): her idle dashboard, which makes no
  // request, goes to the login page with the message.
  await rinaPage.waitForURL(/\/app\/login\?expired=1$/, { timeout: 10_000 });
  assert.match(await rinaPage.locator('.flash').innerText(), /dicabut/);
  assert.deepEqual(unauthorized, [], 'told by the socket, not by a refused request');
  await shot(rinaPage, '23-revoked-login');
  await rinaPage.clock.runFor(60_000);
  assert.equal(sockets.length, 1, 'no socket opened again after the revocation');
  assert.equal((await hub.login(rina.email, rina.password)).status, 401, 'a deactivated admin cannot log in');

  await row.locator('[data-action=reactivate]').click();
  await page.getByRole('alertdialog').locator('[data-action=confirm]').click();
  await page.locator(`[data-list=users] tr[data-user="${rina.email}"][data-active=true]`).waitFor();
  assert.equal((await hub.login(rina.email, rina.password)).status, 200, 'reactivated, she can log in again');

  // A new password for her, set by the super admin: typed twice, 10 to 200 characters.
  await row.locator('[data-action=set-password]').click();
  const form = page.locator('form[data-form=user-password]');
  await form.locator('input[name=password]').fill('pendek');
  await form.locator('input[name=repeat]').fill('pendek');
  await form.locator('button[type=submit]').click();
  await form.locator('[data-field=password]').waitFor();
  await form.locator('input[name=password]').fill('rina-password-2');
  await form.locator('input[name=repeat]').fill('rina-password-3');
  await form.locator('button[type=submit]').click();
  await form.locator('[data-field=repeat]').waitFor();
  await form.locator('input[name=repeat]').fill('rina-password-2');
  await form.locator('button[type=submit]').click();
  await form.getByRole('status').waitFor();
  assert.equal((await hub.login(rina.email, rina.password)).status, 401, 'the old password no longer works');
  assert.equal((await hub.login(rina.email, 'rina-password-2')).status, 200, 'the new one does');
  await shot(page, '24-admin-users');
  await context.close();
});

test('the last active super admin cannot be deactivated, and the page says why', async () => {
  const page = state.superPage;
  await page.goto(`${hub.base}/app/admin-users`);
  const row = page.locator(`[data-list=users] tr[data-user="${SUPER.email}"]`);
  await row.locator('[data-action=deactivate]').click();
  await page.getByRole('alertdialog').locator('[data-action=confirm]').click();
  const refusal = page.locator(`[data-panel="${SUPER.email}"] [data-error=LAST_SUPER_ADMIN]`);
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /super admin aktif terakhir/);
  await shot(page, '25-last-super-admin');
  assert.equal(await row.getAttribute('data-active'), 'true');
  const me = await hub.call('GET', '/auth/me', undefined, { token: hub.superToken });
  assert.equal(me.status, 200, 'still signed in, still active');
});

test("rotating a booth's token shows the new one once, as text and QR code, and the old one is refused", async () => {
  const page = state.superPage;
  const old = state.boothToken;
  const booth = await boothSocket(old);
  assert.equal((await hub.call('GET', '/auth/me', undefined, { token: old })).status, 403, 'valid: a booth, not a user');
  await page.goto(`${hub.base}/app/booths`);
  const row = page.locator(`[data-list=booths] tr[data-booth="${state.boothId}"]`);
  await row.locator('[data-action=rotate-token]').click();
  const dialog = page.getByRole('alertdialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Token lama langsung berhenti/);
  await dialog.locator('[data-action=confirm]').click();

  const reveal = page.locator(`[data-panel="${state.boothId}"] [data-token-for="${state.boothId}"]`);
  await reveal.waitFor();
  assert.match(await reveal.locator('.flash').innerText(), /hanya ditampilkan sekarang/);
  const token = await reveal.locator('[data-token]').innerText();
  assert.match(token, /^bhb_/);
  assert.notEqual(token, old);
  const setup = JSON.parse(await scanQr(reveal.locator('[data-qr=booth-setup]')));
  assert.deepEqual(setup, { boothhub: 1, url: hub.base, booth_id: state.boothId, token });
  await shot(page, '26-booth-token-rotated');

  assert.equal(await booth.closed, 4401, "the old token's socket is closed as revoked");
  assert.equal((await hub.call('GET', '/auth/me', undefined, { token: old })).status, 401, 'the old token is refused');
  assert.equal((await hub.call('GET', '/auth/me', undefined, { token })).status, 403, 'the new one is a booth');
  state.boothToken = token;

  await reveal.locator('[data-action=token-stored]').click();
  assert.equal(await page.locator('[data-token]').count(), 0);
  await page.reload();
  await page.locator('[data-list=booths]').waitFor();
  assert.equal(await page.locator('[data-token]').count(), 0, 'the token is not shown again');
});

test('a booth is renamed, deactivated (its token refused) and reactivated on the booths page', async () => {
  const page = state.superPage;
  const made = await hub.admin('POST', '/booths', { outlet_id: state.outletId, name: 'Booth Lama' });
  await page.goto(`${hub.base}/app/booths`);
  const row = page.locator(`[data-list=booths] tr[data-booth="${made.id}"]`);
  await row.locator('[data-action=rename]').click();
  await page.fill('form[data-form=booth-rename] input[name=name]', 'Booth Baru');
  await page.click('form[data-form=booth-rename] button[type=submit]');
  await row.filter({ hasText: 'Booth Baru' }).waitFor();

  await row.locator('[data-action=deactivate]').click();
  await page.getByRole('alertdialog').locator('[data-action=confirm]').click();
  await page.locator(`[data-list=booths] tr[data-booth="${made.id}"][data-active=false]`).waitFor();
  assert.equal((await hub.call('GET', '/auth/me', undefined, { token: made.token })).status, 401, 'refused while inactive');
  await shot(page, '27-booth-inactive');
  await row.locator('[data-action=reactivate]').click();
  await page.getByRole('alertdialog').locator('[data-action=confirm]').click();
  await page.locator(`[data-list=booths] tr[data-booth="${made.id}"][data-active=true]`).waitFor();
  const listed = (await hub.admin('GET', `/booths?outlet_id=${state.outletId}`)).items.find((b) => b.id === made.id);
  assert.deepEqual([listed.name, listed.active], ['Booth Baru', true]);
});

test('an admin changes their own password on a page of its own; their other logins end, this one stays', async () => {
  const tono = { name: 'Tono', email: 'tono@example.com', password: 'tono-password-1' };
  await makeAdmin(tono.name, tono.email, tono.password);
  const elsewhere = await hub.login(tono.email, tono.password);
  assert.equal(elsewhere.status, 200);
  const page = await newPage();
  await login(page, tono);
  await page.click('nav [data-action=password]');
  await page.waitForURL(/\/app\/account\/password$/);
  const form = page.locator('form[data-form=password]');
  await form.locator('input[name=current_password]').fill('not-my-password');
  await form.locator('input[name=new_password]').fill('tono-password-2');
  await form.locator('input[name=repeat]').fill('tono-password-2');
  await form.locator('button[type=submit]').click();
  const wrong = form.locator('[data-field=current_password]');
  await wrong.waitFor();
  assert.match(await wrong.innerText(), /saat ini salah/);
  assert.match(page.url(), /\/app\/account\/password$/, 'a wrong current password does not end the session');
  await shot(page, '28-password-wrong-current');

  await form.locator('input[name=current_password]').fill(tono.password);
  await form.locator('input[name=new_password]').fill('short');
  await form.locator('input[name=repeat]').fill('short');
  await form.locator('button[type=submit]').click();
  await form.locator('[data-field=new_password]').waitFor();
  await form.locator('input[name=new_password]').fill('tono-password-2');
  await form.locator('input[name=repeat]').fill('tono-password-9');
  await form.locator('button[type=submit]').click();
  await form.locator('[data-field=repeat]').waitFor();
  await form.locator('input[name=repeat]').fill('tono-password-2');
  await form.locator('button[type=submit]').click();
  await form.getByRole('status').waitFor();
  assert.equal(await form.locator('[data-field]').count(), 0);
  await shot(page, '29-password-changed');

  assert.equal((await hub.login(tono.email, tono.password)).status, 401, 'the old password no longer works');
  assert.equal((await hub.login(tono.email, 'tono-password-2')).status, 200, 'the new one does');
  const other = await hub.call('GET', '/auth/me', undefined, { token: elsewhere.token });
  assert.equal(other.status, 401, 'the login elsewhere has ended');
  await page.click('[data-nav=bookings]');
  await page.locator('.page-head h1').filter({ hasText: 'Pemesanan' }).waitFor();
  assert.match(page.url(), /\/app\/bookings$/, 'this session goes on');
  await page.context().close();
});
