//! Red-packet rain: an overlay on the stage with packets falling while the
//! rain runs; tapping (or pressing Enter on) a packet grabs one, the coins
//! float up, one toast line counts the burst ("3 packets grabbed: +150 coins
//! from the rain") and the same line sums up what you grabbed when it ends.

import { post } from '../api.js';
import { setBalance } from '../session.js';
import { el, toast, countdown, fmtCoins, errorSentence } from '../ui.js';

export function createRain({ roomId, onChange = () => {} }) {
  let rain = null; // {rain_id, ends_at}
  let spawnTimer = null;
  let clockTimer = null;
  let grabbed = 0;
  let coins = 0;
  let empty = false;
  const shown = new Set(); // the rains this page showed: their grabs are counted here
  const late = new Map(); // rain id -> {packets, coins} credited for rains not shown here
  const field = el('div.rain-field');
  const clock = el('span.rain-clock');
  const tally = el('span.rain-tally', { 'data-testid': 'rain-tally' }, '0 coins');
  const status = el('p.rain-status', { role: 'status', 'aria-live': 'polite' }, 'Tap the red packets!');
  const node = el('div.rain-overlay', { hidden: true, 'data-testid': 'rain', role: 'region', 'aria-label': 'Red-packet rain' },
    el('div.rain-head', el('strong', '🧧 Red-packet rain'), clock, tally), status, field);

  function start(data) {
    if (rain && rain.rain_id === data.rain_id) return;
    stopTimers();
    rain = { rain_id: data.rain_id ?? data.id, ends_at: data.ends_at };
    shown.add(String(rain.rain_id));
    grabbed = 0; coins = 0; empty = false;
    tally.textContent = '0 coins';
    status.textContent = 'Tap the red packets!';
    field.replaceChildren();
    node.hidden = false;
    onChange(true);
    spawnTimer = setInterval(spawn, 280);
    const tick = () => {
      clock.textContent = rain.ends_at ? countdown(rain.ends_at) : '';
      if (rain.ends_at && new Date(rain.ends_at).getTime() < Date.now() - 3000) end(null);
    };
    tick();
    clockTimer = setInterval(tick, 500);
    const first = spawn();
    if (first) first.focus({ preventScroll: true });
  }

  function spawn() {
    if (empty || field.childElementCount > 14) return null;
    const p = el('button.packet', { type: 'button', 'aria-label': 'Grab a red packet', 'data-testid': 'packet',
      style: { left: `${4 + Math.random() * 82}%`, '--dur': `${(2.6 + Math.random() * 1.6).toFixed(2)}s`, '--r': `${(Math.random() * 50 - 25).toFixed(0)}deg` } },
    el('span', { 'aria-hidden': 'true' }, '🧧'));
    p.addEventListener('click', () => grab(p));
    p.addEventListener('animationend', () => { if (document.activeElement !== p) p.remove(); });
    field.append(p);
    return p;
  }

  async function grab(p) {
    if (p.dataset.grabbing) return;
    p.dataset.grabbing = '1';
    p.classList.add('opened');
    const id = rain ? rain.rain_id : undefined;
    try {
      const res = await post(`/api/rooms/${roomId}/rain/grab`);
      grabbed += 1;
      coins += res.amount;
      setBalance(res.balance);
      tally.textContent = `${fmtCoins(coins)} coins`;
      // One line for the whole burst, its count and total rising with each packet.
      if (rain && rain.rain_id === id) {
        toast(`🧧 ${grabbed} packet${grabbed > 1 ? 's' : ''} grabbed: +${fmtCoins(coins)} coins from the rain`, 'success', 4000,
          { key: `rain-${id}`, testid: 'rain-toast' });
      }
      const plus = el('span.packet-plus', { style: { left: p.style.left, top: `${p.offsetTop}px` } }, `+${res.amount}`);
      field.append(plus);
      setTimeout(() => plus.remove(), 1200);
      status.textContent = `+${res.amount} coins!`;
    } catch (err) {
      if (err.code === 'rain_empty') { empty = true; status.textContent = 'All packets are gone!'; field.replaceChildren(); }
      else if (err.code === 'rain_not_running') { end(null); }
      else status.textContent = errorSentence(err, 'rain');
    }
    setTimeout(() => p.remove(), 350);
  }

  /** `rain_ended {rain_id, handed_out, coins}` (or the clock ran out: data null). */
  function end(data) {
    if (!rain) return;
    if (data && data.rain_id !== undefined && rain.rain_id !== undefined && data.rain_id !== rain.rain_id) return;
    const id = rain.rain_id;
    stopTimers();
    rain = null;
    node.hidden = true;
    onChange(false);
    field.replaceChildren();
    const mine = grabbed ? `You grabbed ${fmtCoins(coins)} coins from ${grabbed} packet${grabbed > 1 ? 's' : ''}.` : 'No packet for you this time.';
    const all = data && data.handed_out !== undefined ? ` ${data.handed_out} packets, ${fmtCoins(data.coins)} coins were handed out.` : '';
    // Replaces the burst's line: still one line for the rain.
    toast(`🧧 Rain over. ${mine}${all}`, grabbed ? 'success' : 'info', 7000, { key: `rain-${id}`, testid: 'rain-result' });
  }

  /**
   * A `rain_credited` notice. Grabs made on this page are counted from their
   * answers; coins credited for a rain this page did not show (another tab)
   * are summed into one line per rain.
   */
  function credited(data) {
    const id = data.rain_id;
    if (id === undefined || shown.has(String(id))) return;
    const sum = late.get(id) || { packets: 0, coins: 0 };
    sum.packets += 1;
    sum.coins += Number(data.amount) || 0;
    late.set(id, sum);
    toast(`🧧 ${sum.packets} packet${sum.packets > 1 ? 's' : ''} grabbed: +${fmtCoins(sum.coins)} coins from the rain are in your wallet`,
      'success', 4000, { key: `rain-credit-${id}`, testid: 'rain-toast' });
  }

  function stopTimers() { clearInterval(spawnTimer); clearInterval(clockTimer); }

  return { node, start, end, credited, get running() { return Boolean(rain); }, destroy: stopTimers };
}
