// The refunds page and the audit page of issue #13 in real headless Chromium against a real
// hub: a payment with a wrong amount (a signed webhook) marked refunded with a reason, checked
// through the API, a second, stale attempt refused in words (409 NOT_REFUNDABLE), the payment
// and its audit entry on the booking's page; the audit trail filtered by action, person, date
// and booking (filters in the URL, kept over a reload), and an outlet admin seeing only their
// outlet's entries. Screenshots go to web/screenshots/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Hub, SUPER } from './hub.mjs';

const SHOTS = resolve(import.meta.dirname, '../../screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN_A = { name: 'Rina Refund', email: 'rina@example.com', password: 'rina-password-1' };
const ADMIN_B = { name: 'Bayu Lain', email: 'bayu@example.com', password: 'bayu-password-1' };
const REASON = 'Dikembalikan lewat transfer BCA, ref 4471';

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
  // Two outlets in two zones, an admin for each, made as a script would.
  state.outletA = await hub.admin('POST', '/outlets', { name: 'Outlet Kemang', location: 'Jakarta', timezone: 'Asia/Jakarta' });
  state.outletB = await hub.admin('POST', '/outlets', { name: 'Outlet Bali', location: 'Denpasar', timezone: 'Asia/Makassar' });
  state.adminA = await hub.admin('POST', '/admin-users', { ...ADMIN_A, role: 'admin', outlet_id: state.outletA.id });
  state.adminB = await hub.admin('POST', '/admin-users', { ...ADMIN_B, role: 'admin', outlet_id: state.outletB.id });
  // A booking needs a free booth at its outlet.
  await hub.admin('POST', '/booths', { outlet_id: state.outletA.id, name: 'Booth Kemang 0' });
});

after(async () => {
  await browser?.close();
  await hub?.stop();
});

async function newPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
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

/** The audit rows on screen: id, action, person (actor id) and text. */
function auditRows(page) {
  return page.$$eval('[data-list=audit] tr[data-audit]', (rows) =>
    rows.map((r) => ({
      id: r.getAttribute('data-audit'),
      action: r.getAttribute('data-action'),
      person: r.querySelector('[data-person]')?.getAttribute('data-person') ?? '',
      text: r.textContent ?? '',
    })),
  );
}

/** Waits (polling, 5 s at most) until the audit rows on screen satisfy `ok`; returns them. */
async function rowsWhen(page, ok, what) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const rows = await auditRows(page);
    if (rows.length > 0 && ok(rows)) return rows;
    if (Date.now() > deadline) assert.fail(`${what}; on screen: ${JSON.stringify(rows.map((r) => r.action))}`);
    await page.waitForTimeout(50);
  }
}

/** `YYYY-MM-DD`, `days` from today in UTC (two days either way is another day in every zone). */
function day(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

test('a payment of the wrong amount is marked refunded with a reason on the refunds page', async () => {
  const created = await hub.call('POST', '/booking', {
    user: { name: 'Dewi', phone: '0812 0000 2222', email: 'dewi@example.com' },
    outlet_id: state.outletA.id,
    booking_time: new Date(Date.now() + 2 * 3_600_000).toISOString(),
    amount: 75000,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const booking = created.body;
  const paid = await hub.webhook({
    event_id: `evt-wrong-${booking.id}`,
    booking_id: booking.id,
    status: 'SUCCESS',
    amount: 1,
    currency: 'IDR',
    paid_at: new Date().toISOString(),
  });
  assert.equal(paid.status, 409, JSON.stringify(paid.body));
  assert.equal(paid.body.error.code, 'AMOUNT_MISMATCH');
  const [payment] = (await hub.admin('GET', `/payments?booking_id=${booking.id}`)).items;
  assert.equal(payment.refund_required, true);
  state.booking = booking;
  state.payment = payment;

  // The super admin opens the list too, and keeps it open (it goes stale below).
  const superPage = await newPage();
  await login(superPage, SUPER);
  await superPage.click('[data-nav=refunds]');
  await superPage.locator(`tr[data-payment="${payment.id}"][data-state=due]`).waitFor();
  state.superPage = superPage;

  const page = await newPage();
  await login(page, ADMIN_A);
  await page.click('[data-nav=refunds]');
  const row = page.locator(`[data-list=refunds] tr[data-payment="${payment.id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-state'), 'due');
  assert.match(await row.locator('[data-why]').innerText(), /Jumlah salah: diterima Rp 1, seharusnya Rp 75\.000/);
  assert.match(await row.innerText(), /WIB/, "received in the outlet's zone");
  assert.equal(await row.locator('[data-booking-link]').getAttribute('href'), `/app/bookings/${booking.id}`);
  await shot(page, '40-refunds');

  // The reason is required, and asked before the confirmation.
  await row.locator('[data-action=mark-refunded]').click();
  const form = page.locator(`[data-panel="${payment.id}"] form[data-form=refund]`);
  await form.locator('[data-action=refund]').click();
  await form.locator('[data-field=reason]').waitFor();
  assert.equal(await page.getByRole('alertdialog').count(), 0, 'no confirmation without a reason');
  await form.locator('textarea[name=reason]').fill(REASON);
  await form.locator('[data-action=refund]').click();
  const dialog = page.getByRole('alertdialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Rp 1 untuk pemesanan/);
  await shot(page, '41-refund-confirm');
  await dialog.locator('[data-action=confirm]').click();

  await page.locator(`[data-list=refunds] tr[data-payment="${payment.id}"][data-state=refunded]`).waitFor();
  await page.locator(`[data-refunded="${payment.id}"]`).waitFor();
  const done = await row.innerText();
  assert.match(done, new RegExp(REASON));
  assert.match(done, new RegExp(`Dikembalikan oleh ${ADMIN_A.email}`));
  assert.equal(await row.locator('[data-action=mark-refunded]').count(), 0, 'nothing left to do');
  await shot(page, '42-refunded');

  const [stored] = (await hub.admin('GET', `/payments?booking_id=${booking.id}`)).items;
  assert.ok(stored.refunded_at, 'refunded_at is set');
  assert.equal(stored.refund_reason, REASON);
  assert.equal(stored.refunded_by, state.adminA.id);
  state.adminPage = page;
});

test('marking refunded a payment someone else refunded meanwhile is refused in words', async () => {
  const page = state.superPage;
  const id = state.payment.id;
  await page.locator(`tr[data-payment="${id}"] [data-action=mark-refunded]`).click();
  const form = page.locator(`[data-panel="${id}"] form[data-form=refund]`);
  await form.locator('textarea[name=reason]').fill('Dua kali?');
  await form.locator('[data-action=refund]').click();
  await page.getByRole('alertdialog').locator('[data-action=confirm]').click();
  const error = form.locator('[data-error=NOT_REFUNDABLE]');
  await error.waitFor();
  assert.match(await error.innerText(), /sudah ditandai dikembalikan/);
  // The list reloads: the payment shows as refunded by the admin, with her reason.
  const row = page.locator(`tr[data-payment="${id}"][data-state=refunded]`);
  await row.waitFor();
  assert.match(await row.innerText(), new RegExp(REASON));
  assert.match(await row.innerText(), new RegExp(`Dikembalikan oleh ${ADMIN_A.email}`), 'who, from the audit trail');
  assert.equal(await form.locator('[data-action=refund]').count(), 0, 'nothing to send any more');
  await shot(page, '43-refund-not-refundable');
  const [stored] = (await hub.admin('GET', `/payments?booking_id=${state.booking.id}`)).items;
  assert.equal(stored.refund_reason, REASON, 'the first refund stands');
});

test("the booking's page shows its payment's refund and the refund in its audit trail", async () => {
  const page = state.adminPage;
  await page.click(`[data-list=refunds] tr[data-payment="${state.payment.id}"] [data-booking-link]`);
  const payment = page.locator(`[data-list=payments] tr[data-payment="${state.payment.id}"]`);
  await payment.waitFor();
  assert.equal(await payment.getAttribute('data-state'), 'refunded');
  assert.match(await payment.innerText(), /Jumlah salah/);
  assert.match(await payment.innerText(), new RegExp(REASON));
  const entry = page.locator('[data-list=audit] tr[data-action=PAYMENT_REFUNDED]');
  await entry.waitFor();
  const text = await entry.innerText();
  assert.match(text, new RegExp(REASON));
  assert.match(text, new RegExp(ADMIN_A.email));
  assert.match(text, /Pembayaran dikembalikan/);
  await shot(page, '44-booking-payments');
});

test('the audit page filters by action, person, date and booking, in the URL', async () => {
  // Entries of both outlets: a failed login, outlet updates, a booth made and its token renewed.
  assert.equal((await hub.login(ADMIN_A.email, 'not-her-password')).status, 401);
  await hub.admin('PUT', `/outlets/${state.outletA.id}`, { name: 'Outlet Kemang Raya', location: 'Jakarta' });
  await hub.admin('PUT', `/outlets/${state.outletB.id}`, { name: 'Outlet Bali Utara', location: 'Denpasar' });
  const booth = await hub.admin('POST', '/booths', { outlet_id: state.outletA.id, name: 'Booth Kemang 1' });
  await hub.admin('POST', `/booths/${booth.id}/token`);
  state.booth = booth;

  const page = state.superPage;
  await page.click('[data-nav=audit]');
  // The booths' names load beside the entries: wait for both (a row first shows a short id).
  const all = await rowsWhen(
    page,
    (rows) => rows.some((r) => r.action === 'BOOTH_TOKEN_ROTATED' && /Booth Kemang 1/.test(r.text)),
    'the new entries show, with the booth by name',
  );
  assert.equal(all[0].action, 'BOOTH_TOKEN_ROTATED', 'newest first');
  assert.match(all[0].text, /Token booth diganti/);
  assert.match(all[0].text, /Booth Kemang 1/, 'the booth by name');
  assert.equal(await page.locator('[data-list=audit] tr[data-audit] [data-target-link]').first().getAttribute('href'), '/app/booths');
  const root = (await hub.admin('GET', '/auth/me')).user;
  const rootLogin = all.find((r) => r.action === 'LOGIN' && r.person === root.id);
  assert.match(rootLogin?.text ?? '', /UTC/, 'an entry without an outlet in UTC');
  assert.match(rootLogin?.text ?? '', new RegExp(SUPER.email));
  await shot(page, '45-audit');

  // By action.
  await page.selectOption('select[name=action]', 'OUTLET_UPDATED');
  const updates = await rowsWhen(
    page,
    (rows) => rows.length === 2 && rows.every((r) => r.action === 'OUTLET_UPDATED'),
    'only the two outlet updates',
  );
  assert.match(page.url(), /\?action=OUTLET_UPDATED$/);
  assert.match(updates.map((r) => r.text).join(' '), /nama: Outlet Kemang → Outlet Kemang Raya/);
  assert.match(updates.map((r) => r.text).join(' '), /WITA/, "Bali's update in Bali's zone");
  await page.reload();
  await rowsWhen(page, (rows) => rows.length === 2 && rows.every((r) => r.action === 'OUTLET_UPDATED'), 'kept over a reload');
  assert.equal(await page.locator('select[name=action]').inputValue(), 'OUTLET_UPDATED');

  // A failed login is kept with the address tried, and no one as its actor.
  await page.selectOption('select[name=action]', 'LOGIN_FAILED');
  const failed = await rowsWhen(page, (rows) => rows.every((r) => r.action === 'LOGIN_FAILED'), 'failed logins');
  assert.ok(failed.some((r) => r.person === '' && r.text.includes(ADMIN_A.email)));

  // By person (a select of the users for a super admin), with and without an action.
  await page.click('[data-action=clear-filters]');
  await page.waitForURL(/\/app\/audit$/);
  await page.selectOption('select[name=actor]', state.adminA.id);
  const hers = await rowsWhen(
    page,
    (rows) => rows.every((r) => r.person === state.adminA.id),
    "only Rina's entries",
  );
  const actions = new Set(hers.map((r) => r.action));
  assert.ok(actions.has('LOGIN') && actions.has('PAYMENT_REFUNDED'), [...actions].join());
  assert.match(page.url(), new RegExp(`actor=${state.adminA.id}`));
  await page.selectOption('select[name=action]', 'PAYMENT_REFUNDED');
  await rowsWhen(page, (rows) => rows.length === 1 && rows[0].action === 'PAYMENT_REFUNDED', 'her refund');
  await shot(page, '46-audit-person');

  // By date: nothing after the day after tomorrow, everything in the days around today.
  await page.click('[data-action=clear-filters]');
  await page.selectOption('select[name=action]', 'BOOTH_TOKEN_ROTATED');
  await rowsWhen(page, (rows) => rows.length === 1, 'one rotation');
  await page.fill('input[name=from]', day(2));
  await page.locator('.empty').waitFor();
  assert.match(page.url(), new RegExp(`from=${day(2)}`));
  await page.fill('input[name=from]', day(-2));
  await page.fill('input[name=to]', day(2));
  await rowsWhen(page, (rows) => rows.length === 1 && rows[0].action === 'BOOTH_TOKEN_ROTATED', 'the rotation, in range');
  await page.fill('input[name=to]', day(-1));
  await page.locator('.empty').waitFor();
  await shot(page, '47-audit-dates');

  // By booking id, typed.
  await page.click('[data-action=clear-filters]');
  await page.fill('input[name=booking]', 'not-an-id');
  await page.press('input[name=booking]', 'Enter');
  await page.locator('.field-error', { hasText: 'Bukan id' }).waitFor();
  await page.fill('input[name=booking]', state.booking.id);
  await page.press('input[name=booking]', 'Enter');
  await rowsWhen(page, (rows) => rows.length === 1 && rows[0].action === 'PAYMENT_REFUNDED', "the booking's refund");
  assert.equal(
    await page.locator('[data-list=audit] [data-target-link]').getAttribute('href'),
    `/app/bookings/${state.booking.id}`,
  );
});

test("an outlet admin's audit page shows only their outlet's entries, and filters by a typed person id", async () => {
  const token = (await hub.login(ADMIN_B.email, ADMIN_B.password)).token;
  const page = await newPage();
  await login(page, ADMIN_B);
  await page.click('[data-nav=audit]');
  await page.locator('[data-list=audit] tr[data-audit]').first().waitFor();
  // Bayu's own outlet's entries: exactly what the hub gives his login, nothing of Kemang.
  const answer = await hub.call('GET', '/audit?limit=25', undefined, { token });
  assert.equal(answer.status, 200);
  const mine = answer.body.items.map((e) => e.id);
  const shown = await rowsWhen(page, (rows) => rows.length === mine.length, 'his entries');
  assert.deepEqual(
    shown.map((r) => r.id),
    mine,
    'the same entries, newest first',
  );
  const kemang = (await hub.admin('GET', `/audit?outlet_id=${state.outletA.id}&limit=100`)).items.map((e) => e.id);
  assert.ok(kemang.length >= 5);
  for (const row of shown) {
    assert.ok(mine.includes(row.id), `${row.action} is one of his outlet's`);
    assert.ok(!kemang.includes(row.id), `${row.action} is not Kemang's`);
  }
  assert.ok(shown.some((r) => r.action === 'OUTLET_UPDATED' && r.text.includes('Outlet Bali Utara')));
  assert.ok(!shown.some((r) => r.action === 'BOOTH_TOKEN_ROTATED' || r.action === 'PAYMENT_REFUNDED'));
  assert.equal(await page.locator('[data-list=audit] a[data-target=outlet]').count(), 0, 'no link to a super-admin page');
  assert.ok((await page.locator('[data-list=audit] span[data-target=outlet]').count()) > 0);
  await shot(page, '48-audit-admin');

  // A person is typed as an id (an admin may not list users).
  await page.fill('input[name=actor]', 'bayu');
  await page.press('input[name=actor]', 'Enter');
  await page.locator('.field-error', { hasText: 'Bukan id' }).waitFor();
  await page.fill('input[name=actor]', state.adminB.id);
  await page.press('input[name=actor]', 'Enter');
  const his = await rowsWhen(page, (rows) => rows.every((r) => r.person === state.adminB.id), 'only his own');
  assert.ok(his.every((r) => r.action === 'LOGIN'), his.map((r) => r.action).join());
  assert.match(page.url(), new RegExp(`actor=${state.adminB.id}`));
});
