//! The PK battle bar across the top of the stage: host on the left, the
//! challenger on the right, the host's share of the bar (`score`, 0..=100)
//! moving live, each side's coins as a number, a countdown to `ends_at`, and
//! the winner announced at the end (a knockout, 0 or 100, as "KO!").

import { el, mount, countdown } from '../ui.js';

export function createPkBar() {
  let pk = null;
  let timer = null;
  const hostName = el('span.pk-name.host');
  const chalName = el('span.pk-name.challenger');
  const fill = el('div.pk-fill', { 'data-testid': 'pk-fill' });
  const flare = el('span.pk-flare', { 'aria-hidden': 'true' }, '⚡');
  const meter = el('div.pk-meter', { role: 'meter', 'aria-label': 'PK score, host share', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'data-testid': 'pk-meter' }, fill, flare);
  const clock = el('span.pk-clock', { 'aria-label': 'Time left' });
  const hostCoins = el('span.pk-coins.host', { 'data-testid': 'pk-host-coins' });
  const chalCoins = el('span.pk-coins.challenger', { 'data-testid': 'pk-challenger-coins' });
  const status = el('p.pk-status', { role: 'status', 'aria-live': 'polite', 'data-testid': 'pk-status' });
  const banner = el('div.pk-banner', { hidden: true, role: 'alert', 'data-testid': 'pk-winner' });
  const node = el('div.pk', { hidden: true, 'data-testid': 'pk' },
    el('div.pk-row', hostName, el('span.pk-vs', { 'aria-hidden': 'true' }, 'VS'), clock, chalName), meter,
    el('div.pk-row.pk-coin-row', hostCoins, chalCoins), status, banner);

  function update(next) {
    if (!next) return;
    pk = next;
    node.hidden = false;
    const score = Math.max(0, Math.min(100, Number(pk.score ?? 50)));
    hostName.textContent = pk.host ? pk.host.nickname : 'Host';
    chalName.textContent = pk.challenger ? pk.challenger.nickname : 'Waiting…';
    const coins = (n) => `🪙 ${Number(n || 0).toLocaleString()}`;
    hostCoins.textContent = coins(pk.host_coins);
    hostCoins.setAttribute('aria-label', `${hostName.textContent}: ${Number(pk.host_coins || 0)} coins`);
    chalCoins.textContent = coins(pk.challenger_coins);
    chalCoins.setAttribute('aria-label', `${chalName.textContent}: ${Number(pk.challenger_coins || 0)} coins`);
    fill.style.width = `${score}%`;
    flare.style.left = `${score}%`;
    meter.setAttribute('aria-valuenow', String(score));
    meter.setAttribute('aria-valuetext', `${score} to ${100 - score}`);
    node.dataset.status = pk.status;
    node.dataset.score = String(score);
    clearInterval(timer);
    if (pk.status === 'waiting') {
      clock.textContent = '';
      status.textContent = 'Waiting for a challenger to join the battle.';
    } else if (pk.status === 'running') {
      banner.hidden = true;
      status.textContent = score === 50 ? 'Even battle! Send gifts to tip the bar.' : `${score > 50 ? hostName.textContent : chalName.textContent} is ahead.`;
      const tick = () => { clock.textContent = pk.ends_at ? countdown(pk.ends_at) : ''; };
      tick();
      timer = setInterval(tick, 1000);
    } else if (pk.status === 'ended') {
      clock.textContent = '00:00';
      announce(pk.winner);
    }
  }

  function announce(winner) {
    if (!pk) return;
    let text = 'Draw! Both anchors fought well.';
    const knockout = Number(pk.score) <= 0 || Number(pk.score) >= 100;
    if (winner !== null && winner !== undefined) {
      const side = pk.host && pk.host.id === winner ? pk.host : pk.challenger;
      const name = side ? side.nickname : 'The winner';
      text = knockout ? `KO! 🏆 ${name} wins by knockout!` : `🏆 ${name} wins the PK!`;
    }
    banner.classList.toggle('ko', knockout && winner !== null && winner !== undefined);
    status.textContent = text;
    mount(banner, el('span', text));
    banner.hidden = false;
    node.dataset.status = 'ended';
  }

  /** `pk_ended {pk, winner}`. */
  function ended(data) {
    update({ ...(data.pk || pk || {}), status: 'ended' });
    announce(data.winner !== undefined ? data.winner : data.pk && data.pk.winner);
  }

  /** The anchors who may receive gifts: both in a running PK. */
  function targets() {
    if (pk && pk.status === 'running' && pk.host && pk.challenger) return [pk.host, pk.challenger];
    return [];
  }

  return { node, update, ended, targets, get pk() { return pk; }, destroy: () => clearInterval(timer) };
}
