// Shared helpers for Palisade's pages: JSON calls with the CSRF token, and showing messages
// through textContent only (no HTML sinks: the pages run under Trusted Types).
'use strict';
window.Palisade = {
  csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  },
  async post(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': this.csrf() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message =
        (data.errors && data.errors[0] && data.errors[0].message) || `request failed (${response.status})`;
      throw new Error(message);
    }
    return data;
  },
  show(id, message) {
    const element = document.getElementById(id);
    if (element) element.textContent = message;
  },
};
