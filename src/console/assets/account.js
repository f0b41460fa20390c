// "Your passkeys": add another passkey (removing and signing out are plain forms).
'use strict';
(() => {
  const form = document.getElementById('add-passkey');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = document.getElementById('passkey-name').value.trim() || 'passkey';
    try {
      Palisade.show('message', 'Follow your browser’s prompt to create a passkey…');
      const start = await Palisade.post('/auth/passkeys/options', {});
      const response = await SimpleWebAuthnBrowser.startRegistration({ optionsJSON: start.options });
      await Palisade.post('/auth/passkeys', { ceremony: start.ceremony, response, name });
      location.reload();
    } catch (error) {
      Palisade.show('message', error.message);
    }
  });
})();
