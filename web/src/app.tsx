// The shell: session check, the route table (RBAC included), the sidebar and the page.
import { useEffect, useState } from 'preact/hooks';
import { Link, Router, useLocation, useSearch } from 'wouter-preact';
import { whenSessionEnds } from './api';
import { ErrorNote, LanguageSwitch, Loading } from './components';
import { t } from './i18n';
import { loadOutlets } from './outlets';
import { AdminUsersPage } from './pages/AdminUsers';
import { AuditPage } from './pages/Audit';
import { BookingPage } from './pages/Booking';
import { BookingNewPage } from './pages/BookingNew';
import { BookingsPage } from './pages/Bookings';
import { BoothsPage } from './pages/Booths';
import { ConfigPage } from './pages/Config';
import { DashboardPage } from './pages/Dashboard';
import { LoginPage } from './pages/Login';
import { OutletsPage } from './pages/Outlets';
import { PasswordPage } from './pages/Password';
import { RefundsPage } from './pages/Refunds';
import { BASE, allowed, resolve, sidebar } from './routes';
import { loadSession, logout, user } from './session';

const PAGES: Record<string, (props: { params: Record<string, string> }) => preact.JSX.Element> = {
  dashboard: DashboardPage,
  bookings: BookingsPage,
  bookingNew: BookingNewPage,
  booking: BookingPage,
  refunds: RefundsPage,
  booths: BoothsPage,
  audit: AuditPage,
  outlets: OutletsPage,
  adminUsers: AdminUsersPage,
  config: ConfigPage,
  password: PasswordPage,
};

export function App() {
  return (
    <Router base={BASE}>
      <Shell />
    </Router>
  );
}

function Shell() {
  const [path, navigate] = useLocation();
  const search = useSearch();
  const [error, setError] = useState<unknown>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const [outletsReady, setOutletsReady] = useState(false);
  const me = user.value;

  useEffect(() => {
    whenSessionEnds(() => {
      // Only a session that was open can end (a first visit is simply logged out).
      if (!user.value) return;
      user.value = null;
      navigate('/login?expired=1');
    });
    loadSession().catch(setError);
  }, []);

  useEffect(() => {
    setOutletsReady(false);
    if (me) loadOutlets().then(() => setOutletsReady(true), setError);
  }, [me?.id, me?.role, me?.outlet_id]);

  const found = resolve(path);
  useEffect(() => {
    if (!found || me === undefined) return;
    if (found.route.page === 'login') {
      if (me) navigate('/');
      return;
    }
    if (me === null) {
      navigate('/login');
    } else if (!allowed(found.route, me.role)) {
      setFlash(t('forbidden.title'));
      navigate('/');
    }
  }, [path, me?.id, me?.role, me === null]);
  useEffect(() => {
    if (flash && found?.route.page !== 'dashboard') setFlash(null);
  }, [path]);

  if (error) return <ErrorNote error={error} />;
  if (me === undefined) return <Loading />;
  if (!found) return <NotFound />;
  if (found.route.page === 'login') {
    const params = new URLSearchParams(search);
    return <LoginPage expired={params.get('expired') === '1'} loggedOut={params.get('bye') === '1'} />;
  }
  if (!me || !allowed(found.route, me.role)) return <Loading />;
  const Page = PAGES[found.route.page];
  return (
    <div class="layout">
      <nav class="sidebar" aria-label="menu">
        <div class="brand">{t('app.title')}</div>
        <div class="who">
          <strong>{me.name}</strong>
          <span data-role={me.role}>{t(`role.${me.role}`)}</span>
        </div>
        <ul>
          {sidebar(me.role).map((route) => (
            <li key={route.path}>
              <Link href={route.path} class={path === route.path ? 'active' : ''} data-nav={route.page}>
                {t(route.nav ?? route.page)}
              </Link>
            </li>
          ))}
        </ul>
        <div class="sidebar-foot">
          <Link href="/account/password" class="foot-link" data-action="password">
            {t('nav.password')}
          </Link>
          <LanguageSwitch />
          <button
            type="button"
            class="link"
            data-action="logout"
            onClick={() => logout().finally(() => navigate('/login?bye=1'))}
          >
            {t('nav.logout')}
          </button>
        </div>
      </nav>
      <main class="content">
        {flash && <p class="flash" role="alert">{flash}</p>}
        {outletsReady ? <Page params={found.params} /> : <Loading />}
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <main class="content narrow">
      <h1>{t('notFound.title')}</h1>
      <p>
        <Link href="/">{t('nav.dashboard')}</Link>
      </p>
    </main>
  );
}
