//! Login page: phone number, "send code" with a resend countdown, the dev
//! code hint when the server gives one, and errors in words.

import { post } from '../api.js';
import { setUser } from '../session.js';
import { el, field, setFieldError, toast, errorSentence } from '../ui.js';

export function render(main) {
  const phone = el('input', { type: 'tel', name: 'phone', inputmode: 'numeric', autocomplete: 'tel',
    maxlength: 11, placeholder: '13800000000', required: true, id: 'login-phone' });
  const code = el('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code',
    maxlength: 8, placeholder: '4-digit code', required: true, id: 'login-code' });
  const sendBtn = el('button.btn.btn-secondary', { type: 'button', id: 'send-code' }, 'Send code');
  const submit = el('button.btn.btn-primary.btn-block', { type: 'submit', id: 'login-submit' }, 'Log in');
  const hint = el('p.dev-hint', { id: 'dev-hint', hidden: true, role: 'status' });
  const formError = el('p.form-error', { role: 'alert', id: 'login-error' });
  let timer = null;

  const validPhone = () => /^1\d{10}$/.test(phone.value.trim());

  sendBtn.addEventListener('click', async () => {
    setFieldError(phone, '');
    formError.textContent = '';
    if (!validPhone()) { setFieldError(phone, 'Enter an 11-digit phone number starting with 1.'); phone.focus(); return; }
    sendBtn.disabled = true;
    try {
      const res = await post('/api/auth/sms', { phone: phone.value.trim() });
      if (res.dev_code) {
        hint.hidden = false;
        hint.replaceChildren('Development server: your code is ', el('strong', { 'data-testid': 'dev-code' }, res.dev_code));
        code.value = res.dev_code;
      } else {
        hint.hidden = true;
      }
      toast('Code sent. Type the 4-digit code from your text message.', 'success');
      code.focus();
      startCountdown(60);
    } catch (err) {
      if (err.field === 'phone') setFieldError(phone, errorSentence(err, 'sms'));
      else formError.textContent = errorSentence(err, 'sms');
      if (err.code === 'rate_limited') startCountdown(err.retryAfter || 60);
      else sendBtn.disabled = false;
    }
  });

  function startCountdown(seconds) {
    clearInterval(timer);
    let left = seconds;
    sendBtn.disabled = true;
    sendBtn.textContent = `Resend in ${left}s`;
    timer = setInterval(() => {
      left -= 1;
      if (left <= 0) { clearInterval(timer); sendBtn.disabled = false; sendBtn.textContent = 'Send code'; return; }
      sendBtn.textContent = `Resend in ${left}s`;
    }, 1000);
  }

  // The code and its "send" button share a row under one label.
  const codeField = field('Verification code', code, 'The 4-digit code we text to your phone.');
  const codeRow = el('div.code-row');
  code.replaceWith(codeRow);
  codeRow.append(code, sendBtn);

  const form = el('form.login-card', { novalidate: true, 'aria-labelledby': 'login-title' },
    el('div.login-brand', el('span.brand-dot.big', { 'aria-hidden': 'true' }), el('h1', { id: 'login-title' }, 'Liveroom')),
    el('p.login-tag', 'Live rooms, gifts, PK battles and red-packet rain.'),
    field('Phone number', phone),
    codeField,
    hint,
    formError,
    submit,
    el('p.fine', 'New here? Logging in creates your account.'));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formError.textContent = '';
    setFieldError(phone, '');
    setFieldError(code, '');
    if (!validPhone()) { setFieldError(phone, 'Enter an 11-digit phone number starting with 1.'); phone.focus(); return; }
    if (!code.value.trim()) { setFieldError(code, 'Enter the 4-digit code we texted you. No code yet? Tap Send code.'); code.focus(); return; }
    if (!/^\d{4,8}$/.test(code.value.trim())) { setFieldError(code, 'The code is 4 digits, numbers only. Check your text message and type it again.'); code.focus(); return; }
    submit.disabled = true;
    submit.textContent = 'Logging in…';
    try {
      const res = await post('/api/auth/login', { phone: phone.value.trim(), code: code.value.trim() });
      setUser(res.user);
      const next = sessionStorage.getItem('liveroom.after_login') || '#/rooms';
      sessionStorage.removeItem('liveroom.after_login');
      location.hash = next;
    } catch (err) {
      if (err.field === 'phone') setFieldError(phone, errorSentence(err, 'login'));
      else if (err.field === 'code' || err.code === 'invalid_code') setFieldError(code, errorSentence(err, 'login'));
      else formError.textContent = errorSentence(err, 'login');
      submit.disabled = false;
      submit.textContent = 'Log in';
    }
  });

  main.append(el('section.login-page', el('div.login-glow', { 'aria-hidden': 'true' }), form));
  phone.focus();
  return () => clearInterval(timer);
}
