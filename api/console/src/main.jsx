// The console's shell: the token form, the navigation and a hash router
// (#/, #/arrays/NAME, #/events, #/explain, #/cluster), so that a page can be
// reloaded or linked without the server knowing any route but /ui/.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, storeToken, storedToken } from './api.js';
import { Overview } from './overview.jsx';
import { ArrayPage } from './array.jsx';
import { Events } from './events.jsx';
import { Explain } from './explain.jsx';
import { Cluster } from './cluster.jsx';

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash.replace(/^#/, '') || '/';
}

// Asks for a token and keeps it only once the API has accepted it: a wrong
// one shows the API's refusal and leaves the session as it was.
function Login({ onAccepted, error: initialError }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(initialError || '');
  const submit = async (event) => {
    event.preventDefault();
    try {
      await api('GET', '/v1/arrays', undefined, token);
      storeToken(token);
      onAccepted();
    } catch (failure) {
      setError(failure.status === 401 ? `The API refused this token: ${failure.message}` : failure.message);
    }
  };
  return (
    <main class="login">
      <h1>rotor</h1>
      <form onSubmit={submit}>
        <label>API token <input type="password" name="token" autocomplete="off" value={token}
          onInput={(e) => setToken(e.currentTarget.value)} autofocus /></label>
        <button type="submit">Sign in</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <p class="hint">The token is one of the API's (api.token, api.tokens or ROTOR_API_TOKEN). It is kept in this
        browser tab only and sent as a bearer token; a read token sees, a write token acts.</p>
    </main>
  );
}

function Page({ route }) {
  const array = /^\/arrays\/(.+)$/.exec(route);
  if (array) return <ArrayPage name={decodeURIComponent(array[1])} />;
  if (route === '/events') return <Events />;
  if (route === '/explain') return <Explain />;
  if (route === '/cluster') return <Cluster />;
  return <Overview />;
}

function App() {
  const route = useHash();
  // unknown: checking; open: the API needs no token; token: signed in; login: asking
  const [auth, setAuth] = useState('unknown');
  const [loginError, setLoginError] = useState('');
  useEffect(() => {
    api('GET', '/v1/arrays', undefined, storedToken())
      .then(() => setAuth(storedToken() ? 'token' : 'open'))
      .catch((error) => {
        if (error.status === 401) {
          if (storedToken()) setLoginError('The stored token was refused; enter it again.');
          setAuth('login');
        } else {
          setLoginError(error.message);
          setAuth('login');
        }
      });
  }, []);
  if (auth === 'unknown') return <p class="loading">Loading…</p>;
  if (auth === 'login') return <Login error={loginError} onAccepted={() => setAuth('token')} />;
  const link = (href, text) => (
    <a href={`#${href}`} class={route === href || (href !== '/' && route.startsWith(href)) ? 'active' : ''}>{text}</a>
  );
  return (
    <>
      <header>
        <strong class="brand">rotor</strong>
        <nav>
          {link('/', 'Overview')}
          {link('/events', 'Events')}
          {link('/explain', 'Explain')}
          {link('/cluster', 'Cluster')}
        </nav>
        {auth === 'token' && (
          <button class="link" onClick={() => { storeToken(''); setAuth('login'); setLoginError(''); }}>Sign out</button>
        )}
      </header>
      <main><Page route={route} /></main>
    </>
  );
}

render(<App />, document.getElementById('app'));
