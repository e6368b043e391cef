// The whole front end: plain fetches to /bff/*, same origin, no token anywhere.
const WIDGETS = ['revenue', 'orders', 'customers', 'latency', 'signups', 'refunds', 'errors', 'deploys'];
const list = document.getElementById('widgets');
let round = 0;

function show(name, status, detail) {
  let item = list.querySelector(`[data-name="${name}"]`);
  if (!item) {
    item = document.createElement('li');
    item.dataset.name = name;
    item.dataset.testid = 'widget';
    item.innerHTML = '<span class="name"></span><span class="status"></span><span class="detail"></span>';
    item.querySelector('.name').textContent = name;
    list.append(item);
  }
  item.className = `widget ${status}`;
  item.dataset.status = status;
  item.querySelector('.status').textContent = status === 'ok' ? '●' : status === 'error' ? '✕' : '…';
  item.querySelector('.detail').textContent = detail;
}

async function loadAll() {
  for (const name of WIDGETS) show(name, 'loading', 'loading');
  // All at once: after an expiry they share one refresh on the server.
  const results = await Promise.all(
    WIDGETS.map(async (name) => {
      try {
        const response = await fetch(`/bff/widgets/${name}`, { headers: { accept: 'application/json' } });
        show(name, response.ok ? 'ok' : 'error', `HTTP ${response.status}`);
        return response.ok;
      } catch {
        show(name, 'error', 'network error');
        return false;
      }
    }),
  );
  list.dataset.failed = String(results.filter((ok) => !ok).length);
  list.dataset.round = String(++round);
}

async function start() {
  const me = await fetch('/bff/me');
  const signedIn = me.status !== 401;
  document.getElementById('signin').hidden = signedIn;
  document.getElementById('signout').hidden = !signedIn;
  document.getElementById('dashboard').hidden = !signedIn;
  if (signedIn) await loadAll();
}

document.getElementById('reload').addEventListener('click', () => void loadAll());
void start();
