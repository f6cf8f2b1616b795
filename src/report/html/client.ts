/**
 * The page's script, inlined into every report. Plain browser JavaScript kept as a string: the project
 * compiles for Node without DOM types, and the browser test (test/browser) runs it for real.
 *
 * It never parses data as HTML: names reach the DOM through textContent and setAttribute only. It reads
 * the JSON block `#alloc-data`: { s: strings, p: per phase row (by data-i) [tree, sites, collapsed, fromSites] }
 * where a tree node is [functionIndex, locationIndex, selfBytes, children?] and a site is
 * [functionIndex, locationIndex, bytes, share in thousandths].
 */
export const CLIENT_SCRIPT = String.raw`(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('alloc-data').textContent);
  var S = data.s;
  var UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];
  function fmtBytes(n) {
    var sign = n < 0 ? '-' : '';
    var v = Math.abs(n), u = 0;
    while (v >= 1000 && u < UNITS.length - 1) { v /= 1000; u++; }
    return sign + v.toFixed(u === 0 ? 0 : v >= 100 ? 1 : 2) + ' ' + UNITS[u];
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- filters -------------------------------------------------------------------------------
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.phase'));
  var texts = null; // built at the first text filter, so that nothing delays the first paint
  function textOf(r) {
    var section = r.closest('section');
    var body = r.closest('tbody');
    return ((section ? section.getAttribute('data-file') : '') + '\n' + (body ? body.getAttribute('data-test') : '') + '\n' +
      r.getAttribute('data-phase')).toLowerCase();
  }
  var active = new Set();
  var query = '';
  var shown = document.getElementById('shown');
  function apply() {
    var visible = 0;
    rows.forEach(function (r, i) {
      var ok = (active.size === 0 || active.has(r.getAttribute('data-status'))) && (query === '' || (texts || (texts = rows.map(textOf)))[i].indexOf(query) !== -1);
      r.hidden = !ok;
      var next = r.nextElementSibling;
      if (next && next.classList.contains('detail')) next.hidden = !ok || r.querySelector('button.toggle').getAttribute('aria-expanded') !== 'true';
      if (ok) visible++;
    });
    document.querySelectorAll('tbody.test').forEach(function (b) { b.hidden = !b.querySelector('tr.phase:not([hidden])'); });
    document.querySelectorAll('section.file').forEach(function (s) {
      s.hidden = !s.querySelector('tr.phase:not([hidden])') && !s.querySelector('.error');
    });
    shown.textContent = 'showing ' + visible + ' of ' + rows.length + ' phases';
    document.getElementById('none').hidden = visible !== 0;
  }
  document.querySelectorAll('button[data-filter]').forEach(function (b) {
    b.addEventListener('click', function () {
      var status = b.getAttribute('data-filter');
      if (status === 'all') active.clear();
      else if (active.has(status)) active.delete(status);
      else active.add(status);
      document.querySelectorAll('button[data-filter]').forEach(function (o) {
        var s = o.getAttribute('data-filter');
        o.setAttribute('aria-pressed', String(s === 'all' ? active.size === 0 : active.has(s)));
      });
      apply();
    });
  });
  var search = document.getElementById('search');
  search.addEventListener('input', function () { query = search.value.trim().toLowerCase(); apply(); });

  // ---- flame graphs --------------------------------------------------------------------------
  var ROW = 18;
  function total(node) {
    if (node.t === undefined) {
      var t = node[2];
      var kids = node[3] || [];
      for (var i = 0; i < kids.length; i++) t += total(kids[i]);
      node.t = t;
    }
    return node.t;
  }
  function hue(location) {
    if (location === '' || location === '(native)' || location.indexOf('node:') === 0) return 'hsl(0,0%,82%)';
    var file = location.replace(/:\d+:\d+$/, '');
    var h = 0;
    for (var i = 0; i < file.length; i++) h = (h * 31 + file.charCodeAt(i)) | 0;
    h = Math.abs(h);
    if (file.indexOf('node_modules') !== -1) return 'hsl(' + (190 + (h % 40)) + ',45%,' + (72 + (h % 10)) + '%)';
    return 'hsl(' + (h % 55) + ',' + (70 + (h % 20)) + '%,' + (62 + (h % 12)) + '%)';
  }
  function shortLocation(location) {
    var m = /([^\/\\]+):(\d+):\d+$/.exec(location);
    return m ? m[1] + ':' + m[2] : location;
  }
  function drawFlame(box, root, rootLabel, onZoom) {
    var whole = total(root);
    var maxDepth = 0;
    var frag = document.createDocumentFragment();
    function place(node, depth, left, isRoot) {
      var t = total(node);
      var width = whole > 0 ? (t / whole) * 100 : 100;
      if (width < 0.05) return;
      maxDepth = Math.max(maxDepth, depth);
      var name = isRoot ? rootLabel : S[node[0]];
      var location = isRoot ? '' : S[node[1]];
      var d = el('div', 'fn');
      d.style.left = left + '%';
      d.style.width = width + '%';
      d.style.top = depth * ROW + 'px';
      d.style.background = isRoot ? 'hsl(0,0%,88%)' : hue(location);
      d.appendChild(el('span', 'name', name));
      if (location) d.appendChild(el('span', 'loc', ' ' + shortLocation(location)));
      d.setAttribute('title', name + (location ? '\n' + location : '') + '\n' + fmtBytes(t) + ' total (' +
        (whole > 0 ? ((t / whole) * 100).toFixed(1) : '100') + '%), ' + fmtBytes(node[2]) + ' self');
      d.addEventListener('click', function (e) { e.stopPropagation(); onZoom(node, isRoot); });
      frag.appendChild(d);
      var kids = (node[3] || []).slice().sort(function (a, b) { return total(b) - total(a); });
      var x = left;
      for (var i = 0; i < kids.length; i++) {
        place(kids[i], depth + 1, x, false);
        x += whole > 0 ? (total(kids[i]) / whole) * 100 : 0;
      }
    }
    place(root, 0, 0, true);
    box.textContent = '';
    box.appendChild(frag);
    box.style.height = (maxDepth + 1) * ROW + 'px';
  }
  function openDetail(row) {
    var i = Number(row.getAttribute('data-i'));
    var entry = data.p[i];
    var detail = el('tr', 'detail');
    var cell = el('td');
    cell.colSpan = row.children.length;
    detail.appendChild(cell);
    var tree = entry[0], sites = entry[1], collapsed = entry[2], fromSites = entry[3];
    var phase = row.getAttribute('data-phase');
    if (tree) {
      var title = el('p', 'flame-title');
      title.textContent = fromSites
        ? 'Top allocation sites of "' + phase + '" (the input had no call tree for this phase; width = bytes)'
        : 'Allocations of "' + phase + '" by call path (icicle: callers above callees, width = sampled bytes; click a frame to zoom)';
      if (collapsed && collapsed.length) {
        title.setAttribute('title', 'frames common to every path, not drawn:\n' + collapsed.map(function (k) { return S[k]; }).join('\n'));
        title.appendChild(el('span', '', ' - ' + collapsed.length + ' common caller frame' + (collapsed.length === 1 ? '' : 's') + ' folded'));
      }
      var reset = el('button', '', 'reset zoom');
      reset.type = 'button';
      reset.hidden = true;
      title.appendChild(reset);
      var box = el('div', 'flame');
      box.setAttribute('role', 'img');
      box.setAttribute('aria-label', 'flame graph of ' + phase);
      var stack = [];
      var label = phase + ' (' + fmtBytes(total(tree)) + ' sampled)';
      var zoom = function (node, isRoot) {
        if (isRoot) { if (stack.length) stack.pop(); }
        else stack.push(node);
        var current = stack.length ? stack[stack.length - 1] : tree;
        reset.hidden = stack.length === 0;
        drawFlame(box, current, stack.length ? S[current[0]] + ' (zoomed, click to go back)' : label, zoom);
      };
      reset.addEventListener('click', function () { stack.length = 0; zoom(tree, true); });
      cell.appendChild(title);
      cell.appendChild(box);
      drawFlame(box, tree, label, zoom);
    }
    if (sites && sites.length) {
      var list = el('ol', 'sites');
      sites.forEach(function (s) {
        var li = el('li');
        li.appendChild(el('span', 'pct', (s[3] / 10).toFixed(1) + '%'));
        li.appendChild(document.createTextNode(fmtBytes(s[2]) + '  ' + S[s[0]] + ' (' + S[s[1]] + ')'));
        list.appendChild(li);
      });
      cell.appendChild(list);
    }
    row.parentNode.insertBefore(detail, row.nextSibling);
    return detail;
  }
  function toggle(row, open) {
    var button = row.querySelector('button.toggle');
    if (!button) return;
    var next = row.nextElementSibling;
    var detail = next && next.classList.contains('detail') ? next : null;
    if (open) { if (!detail) detail = openDetail(row); detail.hidden = false; }
    else if (detail) detail.hidden = true;
    button.setAttribute('aria-expanded', String(open));
  }
  document.querySelector('main').addEventListener('click', function (e) {
    var button = e.target.closest('button.toggle');
    if (!button) return;
    toggle(button.closest('tr'), button.getAttribute('aria-expanded') !== 'true');
  });
  shown.textContent = 'showing ' + rows.length + ' of ' + rows.length + ' phases';
  // Regressions are where a reader looks first: open a few, after the table has painted.
  setTimeout(function () {
    document.querySelectorAll('tr.phase.st-regressed').forEach(function (r, n) { if (n < 10) toggle(r, true); });
  }, 0);
})();
`;
