//! Likes: the heart button (clicks are batched into one `like {count}` frame
//! of at most 50), floating hearts for your taps and for the room's, and the
//! total from the `likes` snapshots.

import { el, fmtCount } from '../ui.js';

const HEARTS = ['💖', '💗', '💓', '❤️', '🧡', '💜', '💛'];

export function createLikes({ send }) {
  let pending = 0;
  let flushTimer = null;
  let total = 0;
  const layer = el('div.heart-layer', { 'aria-hidden': 'true' });
  const totalNode = el('span.likes-total', { 'data-testid': 'likes-total' }, '0');
  const button = el('button.round-btn.like-btn', { type: 'button', 'aria-label': 'Like', id: 'like-btn' },
    el('span', { 'aria-hidden': 'true' }, '❤'));
  const stat = el('span.stat.likes', { title: 'Likes' }, el('span', { 'aria-hidden': 'true' }, '❤ '), totalNode,
    el('span.sr-only', ' likes'));

  button.addEventListener('click', () => {
    float(true);
    pending += 1;
    if (pending >= 50) flush();
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flush, 400);
  });

  function flush() {
    clearTimeout(flushTimer);
    if (!pending) return;
    const count = Math.min(50, pending);
    pending -= count;
    send('like', { count });
    if (pending) flushTimer = setTimeout(flush, 400);
  }

  function float(mine) {
    if (layer.childElementCount > 40) return;
    const h = el('span.heart', { class: mine ? 'mine' : '', style: {
      '--x': `${(Math.random() * 60 - 30).toFixed(0)}px`, '--r': `${(Math.random() * 40 - 20).toFixed(0)}deg`,
      '--dur': `${(2.2 + Math.random()).toFixed(2)}s` } }, HEARTS[Math.floor(Math.random() * HEARTS.length)]);
    layer.append(h);
    h.addEventListener('animationend', () => h.remove());
    setTimeout(() => h.remove(), 4000);
  }

  /** `likes {total}`: hearts for what others added since the last snapshot. */
  function setTotal(t) {
    const n = Number(t) || 0;
    const added = total ? n - total : 0;
    total = n;
    totalNode.textContent = fmtCount(n);
    for (let i = 0; i < Math.min(6, Math.max(0, added)); i += 1) setTimeout(() => float(false), i * 120);
  }

  return { button, layer, stat, setTotal, destroy: () => { flush(); clearTimeout(flushTimer); } };
}
