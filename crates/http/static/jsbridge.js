/* Koudai's stand-in for the WeChat in-app JS bridge.
 * Include it from the Koudai server; a merchant page can then call
 *   WeixinJSBridge.invoke('getBrandWCPayRequest', {appId, timeStamp, nonceStr,
 *     package, signType, paySign}, function (res) { res.err_msg ... })
 * exactly as inside WeChat. The cashier opens in an overlay, checks paySign
 * with the merchant's certificate, and answers with
 * get_brand_wcpay_request:ok | :cancel | :fail. */
(function () {
  'use strict';
  var script = document.currentScript;
  var origin = script ? new URL(script.src, location.href).origin : location.origin;

  function invoke(name, params, callback) {
    var cb = typeof callback === 'function' ? callback : function () {};
    if (name !== 'getBrandWCPayRequest') {
      setTimeout(function () { cb({ err_msg: name + ':fail_not_supported' }); }, 0);
      return;
    }
    var p = params || {};
    var query = new URLSearchParams({
      appId: p.appId || '', timeStamp: String(p.timeStamp || ''), nonceStr: p.nonceStr || '',
      package: p['package'] || '', signType: p.signType || '', paySign: p.paySign || ''
    });
    var overlay = document.createElement('div');
    overlay.id = 'koudai-cashier';
    overlay.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:2147483647;display:flex;align-items:center;justify-content:center';
    var frame = document.createElement('iframe');
    frame.src = origin + '/pay/jsapi?' + query.toString();
    frame.title = 'Koudai cashier';
    frame.style.cssText = 'width:min(460px,100%);height:min(640px,100%);border:0;border-radius:12px;background:#fff';
    overlay.appendChild(frame);
    document.body.appendChild(overlay);
    function onMessage(ev) {
      if (ev.origin !== origin || !ev.data || ev.data.koudai !== 'pay-result') return;
      window.removeEventListener('message', onMessage);
      overlay.parentNode && overlay.parentNode.removeChild(overlay);
      cb({ err_msg: String(ev.data.err_msg) });
    }
    window.addEventListener('message', onMessage);
  }

  window.WeixinJSBridge = { invoke: invoke, on: function () {}, call: function () {} };
  var ready = document.createEvent('Event');
  ready.initEvent('WeixinJSBridgeReady', true, true);
  document.dispatchEvent(ready);
})();
