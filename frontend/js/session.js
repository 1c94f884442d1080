//! The logged-in person: their `user` object and balance, shared by every page.
//! Pages subscribe to changes so the header's balance chip stays current.

import { get } from './api.js';

let current = null;
const listeners = new Set();

export const me = () => current;
export const isAdmin = () => Boolean(current && (current.roles || []).includes('admin'));

/** Subscribes to user changes; returns an unsubscribe function. */
export function onUser(fn) { listeners.add(fn); return () => listeners.delete(fn); }

const HINT = 'liveroom.session';

export function setUser(user) {
  current = user;
  // Remembered so a fresh visit without a session skips the /api/me probe (and its 401).
  if (user) localStorage.setItem(HINT, '1'); else localStorage.removeItem(HINT);
  listeners.forEach((fn) => fn(current));
}

/** Updates only the balance (after a gift, recharge, grab or payment). */
export function setBalance(balance) {
  if (!current || typeof balance !== 'number') return;
  current = { ...current, balance };
  listeners.forEach((fn) => fn(current));
}

/** Loads the user behind the session cookie; null when not logged in. */
export async function loadMe() {
  if (!localStorage.getItem(HINT)) return null;
  try {
    setUser(await get('/api/me', { quiet401: true }));
  } catch (err) {
    if (err.status === 401) setUser(null);
    else throw err;
  }
  return current;
}

/** Re-reads the balance from the wallet. */
export async function refreshBalance() {
  try {
    const w = await get('/api/wallet');
    setBalance(w.balance);
  } catch { /* the header keeps the last known balance */ }
}
