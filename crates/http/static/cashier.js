/* Inside the JSAPI overlay: buttons with data-result tell the merchant's
 * page (through the bridge in static/jsbridge.js) how the payment ended. */
(function () {
  'use strict';
  document.querySelectorAll('button[data-result]').forEach(function (button) {
    button.addEventListener('click', function () {
      parent.postMessage({ koudai: 'pay-result', err_msg: button.getAttribute('data-result') }, '*');
    });
  });
})();
