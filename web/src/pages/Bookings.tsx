// Bookings: filter by status, date (in the outlet's time zone) and outlet; newest first.
import { useState } from 'preact/hooks';
import { Link, useLocation, useSearch } from 'wouter-preact';
import { type Page, api, query } from '../api';
import { Empty, ErrorNote, Loading, StatusBadge, useLoad } from '../components';
import { lang, t } from '../i18n';
import { type Booking, STATUSES } from '../model';
import { outletName, outlets, timezoneOf } from '../outlets';
import { user } from '../session';
import { dayBounds, formatTime } from '../time';

export function BookingsPage() {
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const status = search.get('status') ?? '';
  const date = search.get('date') ?? '';
  const outlet = search.get('outlet') ?? '';
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const superAdmin = user.value?.role === 'super_admin';

  // The filters live in the URL: a reload or a shared link shows the same list.
  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    setCursors([]);
    const text = next.toString();
    navigate(`/bookings${text ? '?' + text : ''}`);
  };

  const tz = timezoneOf(outlet || outlets.value[0]?.id);
  const bounds = date ? dayBounds(date, tz) : undefined;
  const page = useLoad(
    () =>
      api<Page<Booking>>(
        'GET',
        '/bookings' +
          query({ status, outlet_id: outlet, from: bounds?.from, to: bounds?.to, limit: 25, cursor }),
      ),
    [status, date, outlet, cursor],
  );

  return (
    <section>
      <header class="page-head">
        <h1>{t('bookings.title')}</h1>
        <Link href="/bookings/new" class="button" data-action="new-booking">
          {t('bookings.new')}
        </Link>
      </header>
      <form class="filters" aria-label={t('bookings.filter')} onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          <span>{t('common.status')}</span>
          <select name="status" value={status} onChange={(e) => setFilter('status', e.currentTarget.value)}>
            <option value="">{t('common.all')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t('bookings.date')}</span>
          <input name="date" type="date" value={date} onChange={(e) => setFilter('date', e.currentTarget.value)} />
        </label>
        {superAdmin && (
          <label class="field">
            <span>{t('common.outlet')}</span>
            <select name="outlet" value={outlet} onChange={(e) => setFilter('outlet', e.currentTarget.value)}>
              <option value="">{t('common.all')}</option>
              {outlets.value.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </select>
          </label>
        )}
      </form>
      <ErrorNote error={page.error} />
      {page.loading ? (
        <Loading />
      ) : page.data && page.data.items.length === 0 ? (
        <Empty />
      ) : (
        page.data && (
          <>
            <div class="table-wrap">
              <table class="list" data-list="bookings">
                <thead>
                  <tr>
                    <th>{t('bookings.bookingTime')}</th>
                    <th>{t('bookings.customer')}</th>
                    <th>{t('common.outlet')}</th>
                    <th>{t('common.status')}</th>
                    <th class="num">{t('bookings.amount')}</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.items.map((b) => (
                    <tr key={b.id} data-booking={b.id}>
                      <td>
                        <Link href={`/bookings/${b.id}`}>
                          {formatTime(b.booking_time, timezoneOf(b.outlet_id), lang.value)}
                        </Link>
                      </td>
                      <td>{b.user.name}</td>
                      <td>{outletName(b.outlet_id)}</td>
                      <td>
                        <StatusBadge status={b.status} />
                      </td>
                      <td class="num">{rupiah(b.amount)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {page.data.next_cursor && (
              <button type="button" onClick={() => setCursors([...cursors, page.data?.next_cursor ?? ''])}>
                {t('common.next')}
              </button>
            )}
          </>
        )
      )}
    </section>
  );
}

export function rupiah(amount: number): string {
  return 'Rp ' + new Intl.NumberFormat('id-ID').format(amount);
}
