/*
 * clerk reviewer UI: the escalation queue, one escalation's evidence and the
 * decisions on it, against clerkd's JSON API (docs/API.md).
 *
 * Plain browser JavaScript, no framework and no build step: clerkd serves
 * this file as it is, under "Content-Security-Policy: default-src 'self'",
 * so there is no inline script or style anywhere, and every value from the
 * API reaches the page through textContent, never as HTML.
 */
'use strict';

(function () {

const API = '/api/v1';
const REFRESH_MS = 10000;         /* the queue's auto-refresh */
const CLAIM_MINUTES = 15;         /* opening an item claims it this long */
const RENEW_MS = 5 * 60000;       /* and the claim is renewed while open */
const QUEUE_LIMIT = 500;

const S = {
	auth: null,       /* {mode: 'session'|'token', user, role, csrf, token} */
	view: null,       /* 'login' | 'queue' | 'detail' */
	queue: [],        /* open escalations the filters let through, in queue order */
	totals: null,     /* {open, overdue} over the whole queue, from /status */
	playbooks: [],    /* names, for the playbook filter */
	reasons: new Set(), /* reasons seen, for the reason filter */
	queueMore: false, /* more than QUEUE_LIMIT are open */
	queueLoaded: false,
	selectedId: null, /* the queue row j/k moves */
	cur: null,        /* the escalation on screen: {id, esc, item, mine, readonly, decided} */
	openSeq: 0,       /* bumped on each navigation, so a late reply is dropped */
	busy: false,
	pending: null,    /* a one-key decision waiting out its undo time: {c, decision, timer, at} */
	bulk: new Set(),  /* escalation ids ticked in the queue */
	pbs: [],          /* GET /playbooks, for the playbooks view */
	pbConfirm: null,  /* {name, action}: the pause or resume asking to be confirmed */
	hist: null,       /* the history on screen: {name, win, r: GET /playbooks/NAME/history} */
	test: null,       /* the dry-run view: {name, running} */
	refreshTimer: null,
	renewTimer: null,
	bannerFrom: null,
};

/* ---- small helpers -------------------------------------------------- */

const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);

	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k === 'class')
			el.className = v;
		else if (k === 'text')
			el.textContent = v;
		else if (k.startsWith('on') && typeof v === 'function')
			el.addEventListener(k.slice(2), v);
		else if (k === 'value')
			el.value = v;
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of kids.flat(Infinity)) {
		if (c === null || c === undefined || c === false)
			continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

function clear(el) {
	while (el.firstChild)
		el.removeChild(el.firstChild);
	return el;
}

function pad(n) {
	return String(n).padStart(2, '0');
}

function fmtTime(ms) {
	if (ms === null || ms === undefined)
		return '—';
	const d = new Date(ms);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
	    `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fmtSpan(ms) {
	const m = Math.round(Math.abs(ms) / 60000);
	if (m < 1)
		return '不到 1 分钟';
	if (m < 60)
		return `${m} 分钟`;
	const hrs = Math.round(m / 60);
	if (hrs < 48)
		return `${hrs} 小时`;
	return `${Math.round(hrs / 24)} 天`;
}

function isOverdue(e, now) {
	return e.due !== null && e.due !== undefined && e.due < (now || Date.now());
}

/* "1234.50" / "-12.3" -> fen, or null. */
function toFen(amount) {
	if (typeof amount === 'number')
		return Math.round(amount * 100);
	const m = /^\s*([+-]?)(\d+)(?:\.(\d{1,2}))?\s*$/.exec(String(amount || '').replace(/,/g, ''));
	if (!m)
		return null;
	const fen = Number(m[2]) * 100 + Number((m[3] || '').padEnd(2, '0'));
	return m[1] === '-' ? -fen : fen;
}

function fmtFen(fen) {
	if (typeof fen !== 'number')
		return null;
	const neg = fen < 0, a = Math.abs(fen);
	const yuan = String(Math.floor(a / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
	return `${neg ? '-' : ''}${yuan}.${pad(a % 100)}`;
}

function amountText(line) {
	if (line.amount !== undefined && line.amount !== null)
		return String(line.amount);
	return fmtFen(line.amount_fen) || '—';
}

const LABELS = {
	kind: '类型 kind', side: '所在方 side', file: '文件 file', line: '行 line',
	date: '日期 date', amount: '金额 amount', amount_fen: '金额(分) amount_fen',
	ref: '参考号 ref', counterparty: '对方 counterparty', message: '说明 message',
	text: '摘要 text', difference: '差额 difference', candidates: '候选 candidates',
	reversal: '冲正 reversal', run_key: '对账批次 run', run_item: '对账事项 run item',
	report: '报告 report', name: '姓名 name', id_number: '身份证号 ID number',
	account: '账号 account', case: '案件 case', id_no: '身份证号 ID number',
	case_id: '案件号 case', from_uscc: '转出单位 from (USCC)', to_uscc: '转入单位 to (USCC)',
	to_region: '转入地 to region', periods: '缴费期间 periods', months: '缴费月数 months',
	cert_no: '凭证编号 certificate', status: '状态 status',
};

const DIFF_KINDS = {
	bank_in_not_booked: '银行已收、企业未收 bank in, not booked',
	bank_out_not_booked: '银行已付、企业未付 bank out, not booked',
	booked_in_not_bank: '企业已收、银行未收 booked in, not at the bank',
	booked_out_not_bank: '企业已付、银行未付 booked out, not at the bank',
	ambiguous: '多个候选 ambiguous',
	duplicate: '重复 duplicate',
	fee: '手续费 fee',
	balance: '余额不符 balance',
};

const VERBS = { approve: '批准 approve', retry: '重试 retry' };

const DECISIONS = {
	approve: '已批准 approved',
	reject: '已驳回 rejected',
	retry: '已重试 retried',
	resume: '已更正并继续 resumed',
};

function label(k) {
	return LABELS[k] || k;
}

/* A JSON value, readably: objects as key/value lists, arrays as lists. */
function renderValue(v, depth) {
	depth = depth || 0;
	if (v === null || v === undefined)
		return h('span', { class: 'jnull' }, 'null');
	if (Array.isArray(v)) {
		if (v.length === 0)
			return h('span', { class: 'jnull' }, '[ ]');
		if (depth > 5)
			return h('code', null, JSON.stringify(v));
		return h('ol', { class: 'jarr' }, v.map((x) => h('li', null, renderValue(x, depth + 1))));
	}
	if (typeof v === 'object') {
		const keys = Object.keys(v);
		if (keys.length === 0)
			return h('span', { class: 'jnull' }, '{ }');
		if (depth > 5)
			return h('code', null, JSON.stringify(v));
		return h('dl', { class: 'kv' }, keys.map((k) => [
			h('dt', null, label(k)), h('dd', null, renderValue(v[k], depth + 1))]));
	}
	return h('span', null, String(v));
}

/* ---- messages ----------------------------------------------------------- */

function showError(err, from) {
	const msg = err && err.message ? err.message : String(err);
	$('banner-text').textContent = msg;
	$('banner').hidden = false;
	S.bannerFrom = from || null;
	console.error('clerk:', msg);
}

function clearError(from) {
	if (from === undefined || S.bannerFrom === from) {
		$('banner').hidden = true;
		$('banner-text').textContent = '';
		S.bannerFrom = null;
	}
}

let toastTimer = null;
function toast(msg) {
	const t = $('toast');
	t.textContent = msg;
	t.hidden = false;
	clearTimeout(toastTimer);
	toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
}

function formError(id, msg) {
	const p = $(id);
	p.textContent = msg || '';
	p.hidden = !msg;
}

/* ---- the API -------------------------------------------------------------- */

class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

async function api(method, path, body, opts) {
	opts = opts || {};
	const headers = { Accept: 'application/json' };
	const a = S.auth;
	let res, data = null;

	if (body !== undefined)
		headers['Content-Type'] = 'application/json';
	if (a && a.mode === 'token')
		headers.Authorization = 'Bearer ' + a.token;
	if (method !== 'GET' && a && a.csrf)
		headers['X-CSRF-Token'] = a.csrf;
	try {
		res = await fetch(API + path, {
			method, headers, credentials: 'same-origin', cache: 'no-store',
			body: body === undefined ? undefined : JSON.stringify(body),
			keepalive: !!opts.keepalive,
		});
	} catch (e) {
		throw new ApiError(0, 'network', `无法连接 clerkd (cannot reach clerkd): ${e.message}`);
	}
	const text = await res.text();
	if (text) {
		try {
			data = JSON.parse(text);
		} catch (e) {
			data = null;
		}
	}
	if (!res.ok) {
		const er = (data && data.error) || {};
		const err = new ApiError(res.status, er.code || `http_${res.status}`,
		    er.message || `${method} ${path}: HTTP ${res.status} ${res.statusText}`);
		err.problems = er.problems;   /* a playbook's file:line list */
		if (res.status === 401 && !opts.noAuthRedirect)
			unauthorized(err);
		throw err;
	}
	return data;
}

/* The body of a claim, release or decision: with a bearer token there is no
 * session to say who acts, so the name given at login goes along. */
function withBy(body) {
	if (S.auth && S.auth.mode === 'token')
		body.by = S.auth.user;
	return body;
}

function me() {
	return S.auth ? S.auth.user : null;
}

function canDecide() {
	return S.auth && S.auth.role !== 'auditor';
}

/* Pausing a playbook is a supervisor's (daemon/auth.c); the server
 * refuses anyone else, the page does not offer it. */
function canPause() {
	return !!S.auth && (S.auth.role === 'admin' || S.auth.role === 'supervisor');
}

/* ---- login ----------------------------------------------------------------- */

function setAuth(a) {
	S.auth = a;
	if (a) {
		$('who-name').textContent = a.user;
		$('who-role').textContent = a.role || (a.mode === 'token' ? 'token' : '');
		$('who').hidden = false;
	} else {
		$('who').hidden = true;
	}
}

function unauthorized(err) {
	if (!S.auth)
		return;
	stopTimers();
	S.cur = null;
	setAuth(null);
	sessionStorage.removeItem('clerk.token');
	sessionStorage.removeItem('clerk.csrf');
	showLogin(`请重新登录 Please sign in again: ${err.message}`);
}

function showLogin(msg) {
	setView('login');
	formError('login-error', msg || '');
	setTimeout(() => $('login-user').focus(), 0);
}

async function login(ev) {
	ev.preventDefault();
	const user = $('login-user').value.trim(), password = $('login-password').value;

	if (!user || !password) {
		formError('login-error', '请输入用户名和密码 Enter your user name and password');
		return;
	}
	formError('login-error', '');
	$('login-submit').disabled = true;
	try {
		const r = await api('POST', '/login', { user, password }, { noAuthRedirect: true });
		$('login-password').value = '';
		sessionStorage.setItem('clerk.csrf', r.csrf || '');
		sessionStorage.removeItem('clerk.token');
		setAuth({ mode: 'session', user: r.user || user, role: r.role, csrf: r.csrf });
		clearError();
		route();
	} catch (e) {
		if (e.status === 404) {
			formError('login-error', '此 clerkd 尚不支持用户登录，请使用下方的 API 令牌。' +
			    ' This clerkd has no user sign-in: use an API token below. (' + e.message + ')');
			$('token-box').open = true;
		} else {
			formError('login-error', e.message);
		}
	} finally {
		$('login-submit').disabled = false;
	}
}

/* A pasted API token: whoever /me says it is, or the name given. */
async function useToken(token, name) {
	setAuth({ mode: 'token', token, user: name || 'api', role: null, csrf: null });
	try {
		const m = await api('GET', '/me', undefined, { noAuthRedirect: true });
		if (m && m.user)
			S.auth.user = name || m.user;
		if (m && m.role)
			S.auth.role = m.role;
	} catch (e) {
		if (e.status !== 404) {
			setAuth(null);
			throw e;
		}
		/* no /me yet: the token is checked on a read */
		try {
			await api('GET', '/escalations?open=1&limit=1', undefined, { noAuthRedirect: true });
		} catch (e2) {
			setAuth(null);
			throw e2;
		}
	}
	setAuth(S.auth);
	sessionStorage.setItem('clerk.token', token);
	sessionStorage.setItem('clerk.name', name || '');
	sessionStorage.removeItem('clerk.csrf');
}

async function tokenLogin(ev) {
	ev.preventDefault();
	const token = $('token-value').value.trim(), name = $('token-name').value.trim();

	if (!token) {
		formError('token-error', '请粘贴 API 令牌 Paste the API token');
		return;
	}
	formError('token-error', '');
	$('token-submit').disabled = true;
	try {
		await useToken(token, name);
		$('token-value').value = '';
		clearError();
		route();
	} catch (e) {
		formError('token-error', e.status === 401 ?
		    `令牌无效 The token was refused: ${e.message}` : e.message);
	} finally {
		$('token-submit').disabled = false;
	}
}

async function logout() {
	await leaveDetail();
	stopTimers();
	if (S.auth && S.auth.mode === 'session') {
		try {
			await api('POST', '/logout', {}, { noAuthRedirect: true });
		} catch (e) {
			showError(e);
		}
	}
	sessionStorage.removeItem('clerk.token');
	sessionStorage.removeItem('clerk.name');
	sessionStorage.removeItem('clerk.csrf');
	setAuth(null);
	S.queue = [];
	S.queueLoaded = false;
	if (location.hash && location.hash !== '#/')
		history.replaceState(null, '', '#/');
	showLogin();
}

/* ---- views and routing -------------------------------------------------- */

function setView(v) {
	S.view = v;
	for (const name of ['login', 'queue', 'detail', 'playbooks', 'history', 'item', 'test'])
		$('view-' + name).hidden = name !== v;
	$('nav-queue').classList.toggle('current', v === 'queue' || v === 'detail');
	$('nav-playbooks').classList.toggle('current', v === 'playbooks' || v === 'history' || v === 'test');
	if (v === 'queue')
		startRefresh();
	else
		stopRefresh();
}

function stopTimers() {
	stopRefresh();
	clearInterval(S.renewTimer);
	S.renewTimer = null;
}

function detailIdFromHash() {
	const m = /^#\/e\/(\d+)$/.exec(location.hash);
	return m ? Number(m[1]) : null;
}

async function route() {
	if (!S.auth) {
		showLogin();
		return;
	}
	const id = detailIdFromHash();
	if (S.pending && S.pending.c.id !== id)
		await commitPending();
	if (S.cur && S.cur.id !== id)
		await leaveDetail();
	const ph = histFromHash(), item = itemIdFromHash();
	if (id !== null)
		openDetail(id);
	else if (ph)
		showHistory(ph.name, ph.win);
	else if (item !== null)
		showItem(item);
	else if (location.hash === '#/playbooks')
		showPlaybooks();
	else if (testNameFromHash() !== null)
		showTest(testNameFromHash());
	else
		showQueue();
}

function go(hash) {
	if (location.hash === hash)
		route();
	else
		location.hash = hash;
}

/* ---- the queue -------------------------------------------------------------- */

/* Due time first (none last), then the item's priority, highest first:
 * the server pages by due time and id, so two items due at the same time
 * are put in priority order here. */
function sortQueue(list) {
	const due = (e) => (e.due === null || e.due === undefined ? Infinity : e.due);
	return list.slice().sort((x, y) => due(x) - due(y) ||
	    (y.priority || 0) - (x.priority || 0) || x.id - y.id);
}

function heldByOther(e, now) {
	return !!e.claimed_by && e.claimed_by !== me() &&
	    (e.claim_expires === null || e.claim_expires === undefined || e.claim_expires > (now || Date.now()));
}

/* The server filters (playbook, reason, assignee, overdue): the queue as
 * loaded is the queue as shown. */
function filtered() {
	return S.queue;
}

function filterQuery() {
	const q = new URLSearchParams({ open: '1', limit: String(QUEUE_LIMIT) });
	const pb = $('filter-playbook').value, rs = $('filter-reason').value;
	const as = $('filter-assignee').value;
	if (pb)
		q.set('playbook', pb);
	if (rs)
		q.set('reason', rs);
	if (as)
		q.set('assignee', as);
	if ($('filter-overdue').checked)
		q.set('overdue', '1');
	const text = $('filter-q').value.trim();
	if (text)
		q.set('q', text);
	return q;
}

function filtersActive() {
	return [...filterQuery().keys()].some((k) => k !== 'open' && k !== 'limit');
}

let loadSeq = 0;
async function loadQueue() {
	const seq = ++loadSeq;
	const [r, st] = await Promise.all([
		api('GET', `/escalations?${filterQuery()}`),
		api('GET', '/status').catch(() => null),
	]);
	if (seq !== loadSeq)
		return;   /* a newer filter's answer is on its way */
	S.queue = sortQueue(r.escalations || []);
	S.queueMore = r.next !== null && r.next !== undefined;
	for (const e of S.queue)
		S.reasons.add(e.reason);
	if (st && st.counts && st.counts['*']) {
		const all = st.counts['*'];
		S.totals = { open: all.open_escalations || 0, overdue: all.overdue_escalations || 0 };
	}
	if (st && Array.isArray(st.playbooks))
		S.playbooks = st.playbooks.map((p) => p.name);
	S.queueLoaded = true;
}

async function refreshQueue() {
	try {
		await loadQueue();
		clearError('queue');
		$('refreshed').textContent = '更新于 updated ' + new Date().toLocaleTimeString('zh-CN', { hour12: false });
	} catch (e) {
		if (e.status !== 401)
			showError(e, 'queue');
		return;
	}
	if (S.view === 'queue')
		renderQueue();
}

function fillSelect(sel, values) {
	const cur = sel.value;
	const want = [...new Set(values)].sort();
	if (cur && !want.includes(cur))
		want.push(cur);
	while (sel.options.length > 1)
		sel.remove(1);
	for (const v of want)
		sel.add(new Option(v, v));
	sel.value = cur;
}

function renderQueue() {
	const now = Date.now();
	const list = filtered();
	const body = clear($('queue-body'));

	fillSelect($('filter-playbook'), S.playbooks.concat(S.queue.map((e) => e.playbook)));
	fillSelect($('filter-reason'), [...S.reasons]);
	if (S.totals) {
		$('count-total').textContent = String(S.totals.open);
		$('count-overdue').textContent = String(S.totals.overdue);
	}
	$('count-shown').textContent = filtersActive() ?
	    `显示 ${list.length}${S.queueMore ? '+' : ''} 件 shown` : '';
	$('queue-empty').hidden = list.length > 0;
	if (!list.some((e) => e.id === S.selectedId))
		S.selectedId = list.length ? list[0].id : null;

	for (const e of list) {
		const over = isOverdue(e, now);
		const dueCell = h('td', { class: 'due', title: fmtTime(e.due) },
		    over ? h('span', { class: 'badge overdue' }, '逾期 overdue') : null,
		    e.due === null || e.due === undefined ? '—' :
		    (over ? `${fmtSpan(now - e.due)}前` : `还有 ${fmtSpan(e.due - now)}`),
		    h('div', { class: 'muted' }, fmtTime(e.due)));
		let claim = null;
		if (e.claimed_by && (e.claim_expires === null || e.claim_expires === undefined || e.claim_expires > now))
			claim = h('span', { class: 'badge ' + (e.claimed_by === me() ? 'mine' : 'claimed'),
			    title: '至 until ' + fmtTime(e.claim_expires) }, e.claimed_by);
		const tr = h('tr', {
			'data-id': e.id,
			class: [over ? 'overdue' : '', e.id === S.selectedId ? 'selected' : ''].join(' ').trim(),
			onclick: (ev) => {
				if (ev.target.closest('a'))
					return;
				go(`#/e/${e.id}`);
			},
		},
		h('td', { class: 'sel' }, h('input', {
			type: 'checkbox', class: 'bulk-pick', 'aria-label': `select #${e.id}`,
			checked: S.bulk.has(e.id) ? true : null,
			onclick: (ev) => { ev.stopPropagation(); toggleBulk(e.id, ev.target.checked); },
		})),
		h('td', { class: 'id' }, h('a', { href: `#/e/${e.id}` }, `#${e.id}`)),
		dueCell,
		h('td', { class: 'prio num' }, String(e.priority ?? 0)),
		h('td', null, e.playbook),
		h('td', null, h('code', null, e.reason)),
		h('td', { class: 'msg', title: e.message || '' }, e.message || ''),
		h('td', { class: 'assignee' }, e.assignee ?
		    h('span', { class: 'badge ' + (e.assignee === me() ? 'mine' : 'state') }, e.assignee) : '—'),
		h('td', null, claim));
		body.append(tr);
	}
	renderBulk();
}

/* ---- playbooks: paused or running ------------------------------------------ */

function triggerText(t) {
	if (!t)
		return '—';
	if (t.cron)
		return `cron ${t.cron}`;
	if (t.kind === 'interval')
		return `每 every ${Math.round(t.interval_ms / 1000)} s`;
	if (t.dir)
		return `监视 watch ${t.dir}`;
	return t.kind;
}

function showPlaybooks() {
	S.cur = null;
	S.pbConfirm = null;
	setView('playbooks');
	renderPlaybooks();
	loadPlaybooks();
}

async function loadPlaybooks() {
	try {
		const r = await api('GET', '/playbooks');
		S.pbs = r.playbooks || [];
		clearError('playbooks');
	} catch (e) {
		if (e.status !== 401)
			showError(e, 'playbooks');
		return;
	}
	if (S.view === 'playbooks')
		renderPlaybooks();
}

function pbStateCell(p) {
	if (!p.paused)
		return h('td', { class: 'pb-state' }, h('span', { class: 'badge running' }, '运行中 running'));
	return h('td', { class: 'pb-state' },
	    h('span', { class: 'badge paused' }, '已暂停 paused'),
	    h('div', { class: 'muted pb-paused-by' },
		`${p.paused_by || '?'} · ${fmtTime(p.paused_at)}`),
	    p.pause_reason ? h('div', { class: 'pb-reason' }, p.pause_reason) : null);
}

function pbActionCell(p) {
	const c = S.pbConfirm;
	const pause = !p.paused;

	if (!c || c.name !== p.name)
		return h('td', { class: 'pb-act' }, h('button', {
			type: 'button', class: pause ? 'pb-pause danger' : 'pb-resume primary',
			onclick: () => { S.pbConfirm = { name: p.name, action: pause ? 'pause' : 'resume' }; renderPlaybooks(); },
		}, pause ? '暂停 Pause' : '恢复 Resume'));
	/* A pause stops a queue people are waiting on: it is confirmed
	 * first, with room to say why. */
	const form = h('form', {
		class: 'pb-confirm', novalidate: true,
		onsubmit: (ev) => { ev.preventDefault(); submitPause(p.name, c.action); },
	},
	c.action === 'pause' ?
	    h('input', { class: 'pb-reason-input', maxlength: '1000', autocomplete: 'off',
		placeholder: '原因（可选）reason (optional)', 'aria-label': 'reason' }) :
	    h('span', null, `恢复 ${p.name}？ Resume?`),
	h('button', { type: 'submit', class: 'pb-confirm-btn ' + (c.action === 'pause' ? 'danger primary' : 'primary') },
	    c.action === 'pause' ? '确认暂停 Confirm pause' : '确认恢复 Confirm resume'),
	h('button', { type: 'button', class: 'link pb-cancel',
	    onclick: () => { S.pbConfirm = null; renderPlaybooks(); } }, '取消 Cancel'),
	h('p', { class: 'form-error pb-error', role: 'alert', hidden: true }));
	return h('td', { class: 'pb-act' }, form);
}

function renderPlaybooks() {
	const body = clear($('pb-body'));
	const act = canPause();

	$('pb-act-head').hidden = !act;
	$('pb-empty').hidden = S.pbs.length > 0;
	for (const p of S.pbs)
		body.append(h('tr', { 'data-name': p.name, class: p.paused ? 'paused' : null },
		    h('td', { class: 'pb-name' }, h('b', null, p.name),
			canSeeHistory() ? h('a', { class: 'pb-history', href: histHash(p.name) }, '运行历史 History') : null,
			canDryRun() ? h('a', { class: 'pb-test', href: `#/test/${encodeURIComponent(p.name)}` },
			    '试运行 Test') : null,
			p.description ? h('div', { class: 'muted' }, p.description) : null),
		    h('td', null, triggerText(p.trigger)),
		    h('td', { class: 'num' }, String((p.steps || []).length)),
		    h('td', { class: 'num' }, String(p.inflight ?? 0)),
		    pbStateCell(p),
		    act ? pbActionCell(p) : null));
	const input = body.querySelector('.pb-reason-input');
	if (input)
		input.focus();
}

async function submitPause(name, action) {
	const row = [...$('pb-body').rows].find((tr) => tr.dataset.name === name);
	const input = row && row.querySelector('.pb-reason-input');
	const btn = row && row.querySelector('.pb-confirm-btn');
	const body = withBy({});
	const reason = input ? input.value.trim() : '';

	if (action === 'pause' && reason)
		body.reason = reason;
	if (btn)
		btn.disabled = true;
	try {
		await api('POST', `/playbooks/${encodeURIComponent(name)}/${action}`, body);
	} catch (e) {
		const err = row && row.querySelector('.pb-error');
		if (err) {
			err.textContent = e.message;
			err.hidden = false;
		}
		if (btn)
			btn.disabled = false;
		/* (409: someone else paused or resumed it meanwhile.) */
		if (e.status === 409)
			setTimeout(() => { S.pbConfirm = null; loadPlaybooks(); }, 2500);
		return;
	}
	S.pbConfirm = null;
	toast(action === 'pause' ? `${name} 已暂停 paused` : `${name} 已恢复 resumed`);
	await loadPlaybooks();
}

/* ---- run history: a playbook's, and one item's timeline -------------------- */

/* The history is a supervisor's (daemon/auth.c, AUTH_HISTORY): others are
 * told so and not sent to a 403. */
function canSeeHistory() {
	return canPause();
}

/* The windows offered, and the bucket each is drawn in. */
const WINDOWS = {
	'24h': { hours: 24, bucket: '1h', text: '24 小时 24 h' },
	'7d': { hours: 168, bucket: '6h', text: '7 天 7 d' },
	'30d': { hours: 720, bucket: '1d', text: '30 天 30 d' },
};

/* Items per state, in the order the bars stack them (bottom up). */
const STATES = [
	['done', '完成 done'], ['running', '运行中 running'], ['queued', '排队 queued'],
	['retry_wait', '等待重试 retry wait'], ['escalated', '转人工 escalated'],
	['rejected', '驳回 rejected'], ['cancelled', '取消 cancelled'],
];

function histHash(name, win) {
	return `#/p/${encodeURIComponent(name)}` + (win && win !== '24h' ? `?w=${win}` : '');
}

function histFromHash() {
	const m = /^#\/p\/([^?/]+)(?:\?w=([0-9a-z]+))?$/.exec(location.hash);
	if (!m)
		return null;
	let name;
	try {
		name = decodeURIComponent(m[1]);
	} catch (e) {
		return null;
	}
	return { name, win: WINDOWS[m[2]] ? m[2] : '24h' };
}

function itemIdFromHash() {
	const m = /^#\/i\/(\d+)$/.exec(location.hash);
	return m ? Number(m[1]) : null;
}

function fmtMs(ms) {
	if (ms === null || ms === undefined)
		return '—';
	if (ms < 1000)
		return `${Math.round(ms)} ms`;
	if (ms < 60000)
		return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
	const part = (n, unit, rest, runit) => `${n} ${unit}` + (rest ? ` ${rest} ${runit}` : '');
	if (ms < 3600000)
		return part(Math.floor(ms / 60000), 'min', Math.round((ms % 60000) / 1000), 's');
	if (ms < 86400000)
		return part(Math.floor(ms / 3600000), 'h', Math.round((ms % 3600000) / 60000), 'min');
	return part(Math.floor(ms / 86400000), 'd', Math.round((ms % 86400000) / 3600000), 'h');
}

/* To the millisecond: a step's start and end are often the same minute. */
function fmtStamp(ms) {
	if (ms === null || ms === undefined)
		return '—';
	const d = new Date(ms);
	return `${fmtTime(ms)}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function pct(n, of) {
	return of > 0 ? `${(100 * n / of).toFixed(1)}%` : '—';
}

function notice(id, msg) {
	const p = $(id);
	p.textContent = msg || '';
	p.hidden = !msg;
}

/* What a refused or failed read says on the page itself. */
function readProblem(e, what) {
	if (e.status === 403)
		return `需要主管或管理员角色 This needs a supervisor (or admin): ${e.message}`;
	if (e.status === 404)
		return `${what}：${e.message}`;
	return e.message;
}

const NEEDS_SUPERVISOR = '运行历史仅限主管和管理员查看。Run history needs a supervisor or admin role' +
    ' — ask one, or sign in as one.';

async function showHistory(name, win) {
	const seq = ++S.openSeq;

	S.cur = null;
	setView('history');
	$('h-title').textContent = `运行历史 History · ${name}`;
	clear($('h-meta'));
	for (const b of document.querySelectorAll('#view-history .h-win')) {
		b.classList.toggle('current', b.dataset.w === win);
		b.setAttribute('aria-pressed', String(b.dataset.w === win));
	}
	if (!canSeeHistory() && S.auth.role) {
		$('h-body').hidden = true;
		notice('h-notice', NEEDS_SUPERVISOR);
		return;
	}
	notice('h-notice', '加载中… loading');
	const w = WINDOWS[win];
	let r;
	try {
		r = await api('GET', `/playbooks/${encodeURIComponent(name)}/history?hours=${w.hours}&bucket=${w.bucket}`);
	} catch (e) {
		if (seq !== S.openSeq)
			return;
		$('h-body').hidden = true;
		notice('h-notice', e.status === 403 ? NEEDS_SUPERVISOR : readProblem(e, name));
		return;
	}
	if (seq !== S.openSeq)
		return;
	notice('h-notice', '');
	S.hist = { name, win, r };
	renderHistory();
	$('h-body').hidden = false;
}

function renderHistory() {
	const { win, r } = S.hist, hs = r.history || {};
	const t = hs.totals || { items: 0, failed_items: 0, failed_attempts: 0, escalated_items: 0 };
	const openEsc = (hs.escalations || []).reduce((a, x) => a + (x.open || 0), 0);

	clear($('h-meta')).append(...[
	    r.paused ? h('span', { class: 'badge paused' }, '已暂停 paused') :
		h('span', { class: 'badge running' }, '运行中 running'),
	    r.description ? h('span', null, r.description) : null,
	    h('span', null, `在办 in flight ${r.inflight ?? 0}`),
	    r.hash ? h('span', { class: 'mono', title: r.hash }, `版本 version ${r.hash.slice(0, 12)}`) : null,
	].filter(Boolean));

	const next = Array.isArray(r.next_runs) ? r.next_runs : [];
	const tr = r.trigger || {};
	clear($('h-trigger')).append(
	    h('h2', null, '触发 Trigger'),
	    h('p', { class: 'h-trigger-text' }, h('code', null, triggerText(tr))),
	    h('dl', { class: 'kv' },
		tr.catch_up ? [h('dt', null, '补跑 catch-up'), h('dd', null, tr.catch_up +
		    (tr.catch_up_max ? `，最多 at most ${tr.catch_up_max}` : '') +
		    (tr.catch_up_within_ms ? `，${fmtMs(tr.catch_up_within_ms)} 内 within` : ''))] : null,
		[h('dt', null, '日历 calendar'), h('dd', null, r.calendar || '—')],
		[h('dt', null, '并发 concurrency'), h('dd', null, String(r.concurrency ?? 1))],
		[h('dt', null, '步骤 steps'), h('dd', null, (r.steps || []).map((s) => s.id).join(' → ') || '—')]),
	    h('h3', null, '下次运行 Next runs'),
	    next.length ? h('ol', { class: 'next-runs', id: 'h-next' }, next.map((x) =>
		h('li', { class: 'mono', title: x }, fmtTime(Date.parse(x))))) :
		h('p', { class: 'muted', id: 'h-next' }, '无定时运行：手动或由事件触发 No scheduled runs: started by hand or by events.'));

	const tile = (cls, big, small, title) => h('div', { class: 'tile ' + cls, title: title || null },
	    h('div', { class: 'big' }, big), h('div', { class: 'muted' }, small));
	clear($('h-tiles')).append(
	    tile('t-items', String(t.items), `事项 items（${WINDOWS[win].text}）`),
	    tile('t-failed', pct(t.failed_items, t.items),
		`失败率 failure rate: ${t.failed_items} / ${t.items} 件失败过 failed at least once，共 ${t.failed_attempts} 次 failed attempts`),
	    tile('t-escalated', pct(t.escalated_items, t.items),
		`转人工率 escalation rate: ${t.escalated_items} / ${t.items} 件 items escalated`),
	    tile('t-open', String(openEsc), '待复核 open escalations'));

	$('h-chart-note').textContent = `（每格 per bar ${fmtMs(hs.bucket_ms)}，按入队时间、现在的状态 by time queued, state now）`;
	clear($('h-chart')).append(...historyChart(hs));

	const steps = hs.steps || [];
	const top = Math.max(1, ...steps.map((s) => s.max_ms || 0));
	clear($('h-steps')).append(
	    h('h2', null, '步骤耗时 Steps, slowest first'),
	    steps.length ? h('table', { class: 'hist-table', id: 'h-steps-table' },
		h('thead', null, h('tr', null, h('th', null, '步骤 Step'), h('th', { class: 'num' }, '次数 Runs'),
		    h('th', { class: 'num' }, '中位 Median'), h('th', { class: 'num' }, 'P95'),
		    h('th', { class: 'num' }, '最长 Max'), h('th', { class: 'barcol' }))),
		h('tbody', null, steps.map((s) => h('tr', { 'data-step': s.step },
		    h('td', null, h('code', null, s.step)), h('td', { class: 'num' }, String(s.runs)),
		    h('td', { class: 'num' }, fmtMs(s.median_ms)), h('td', { class: 'num' }, fmtMs(s.p95_ms)),
		    h('td', { class: 'num' }, fmtMs(s.max_ms)),
		    h('td', { class: 'barcol' }, spanBar(s, top)))))) :
		h('p', { class: 'muted' }, '此时间窗内没有完成的步骤 No step finished in this window.'));

	const slow = hs.slowest || [];
	clear($('h-slowest')).append(
	    h('h2', null, '最慢的运行 Slowest runs'),
	    slow.length ? h('table', { class: 'hist-table', id: 'h-slowest-table' },
		h('thead', null, h('tr', null, h('th', null, '事项 Item'), h('th', null, '步骤 Step'),
		    h('th', { class: 'num' }, '耗时 Time'), h('th', null, '完成 Finished'))),
		h('tbody', null, slow.map((x) => h('tr', { 'data-item': x.item },
		    h('td', null, h('a', { href: `#/i/${x.item}`, class: 'item-link' }, `#${x.item}`)),
		    h('td', null, h('code', null, x.step)), h('td', { class: 'num' }, fmtMs(x.ms)),
		    h('td', { class: 'muted' }, fmtStamp(x.finished)))))) :
		h('p', { class: 'muted' }, '无 none'));

	clear($('h-failures')).append(
	    h('h2', null, '失败的尝试 Failed attempts, by step and reason'),
	    reasonTable('h-failures-table', hs.failures || [], false));
	clear($('h-escalations')).append(
	    h('h2', null, '转人工 Escalations, by step and reason'),
	    reasonTable('h-escalations-table', hs.escalations || [], true));
}

function reasonTable(id, rows, open) {
	if (!rows.length)
		return h('p', { class: 'muted' }, '无 none');
	return h('table', { class: 'hist-table', id },
	    h('thead', null, h('tr', null, h('th', null, '步骤 Step'), h('th', null, '原因 Reason'),
		h('th', { class: 'num' }, '次数 Count'), open ? h('th', { class: 'num' }, '未决 Open') : null)),
	    h('tbody', null, rows.map((x) => h('tr', { 'data-step': x.step, 'data-reason': x.reason },
		h('td', null, h('code', null, x.step)),
		h('td', null, x.reason === 'retry' ? '已重试 retried (system error)' : h('code', null, x.reason)),
		h('td', { class: 'num' }, String(x.n)),
		open ? h('td', { class: 'num' }, String(x.open ?? 0)) : null))));
}

/* Median to max of one step, on a scale shared by the table's rows. */
function spanBar(s, top) {
	const bar = h('div', { class: 'spanbar', title: `median ${fmtMs(s.median_ms)} · p95 ${fmtMs(s.p95_ms)} · max ${fmtMs(s.max_ms)}` },
	    h('div', { class: 'span-max' }), h('div', { class: 'span-p95' }), h('div', { class: 'span-med' }));
	/* CSSOM, not a style attribute: the CSP allows no inline styles. */
	bar.children[0].style.width = `${(100 * (s.max_ms || 0) / top).toFixed(2)}%`;
	bar.children[1].style.width = `${(100 * (s.p95_ms || 0) / top).toFixed(2)}%`;
	bar.children[2].style.width = `${(100 * (s.median_ms || 0) / top).toFixed(2)}%`;
	return bar;
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...kids) {
	const el = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs || {}))
		if (v !== null && v !== undefined)
			el.setAttribute(k, String(v));
	for (const c of kids.flat())
		if (c !== null && c !== undefined)
			el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	return el;
}

function bucketLabel(start, bucketMs) {
	const d = new Date(start);
	if (bucketMs >= 86400000)
		return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
	if (bucketMs >= 6 * 3600000)
		return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}h`;
	return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/* Stacked bars, one per bucket, drawn with SVG elements (no library, no
 * style attribute: colours come from app.css by class). */
function historyChart(hs) {
	const nb = hs.bucket_count || 0, bms = hs.bucket_ms || 1, since = hs.since || 0;
	const per = Array.from({ length: nb }, () => ({}));
	const totals = {};
	for (const b of hs.buckets || []) {
		if (b.bucket < 0 || b.bucket >= nb)
			continue;
		per[b.bucket][b.state] = (per[b.bucket][b.state] || 0) + b.n;
		totals[b.state] = (totals[b.state] || 0) + b.n;
	}
	const known = new Set(STATES.map(([s]) => s));
	const states = STATES.concat(Object.keys(totals).filter((s) => !known.has(s)).map((s) => [s, s]));
	const max = Math.max(1, ...per.map((p) => Object.values(p).reduce((a, n) => a + n, 0)));
	const W = 1000, H = 170, L = 36, B = 22, T = 8;
	const bw = (W - L) / Math.max(1, nb);
	const y = (n) => T + (H - T - B) * (1 - n / max);
	const g = svg('g', { class: 'bars' });
	const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'hist-chart', id: 'h-svg', role: 'img',
	    'aria-label': 'items per state over time' },
	    svg('line', { x1: L, x2: W, y1: y(0), y2: y(0), class: 'axis' }),
	    svg('line', { x1: L, x2: W, y1: y(max), y2: y(max), class: 'grid' }),
	    svg('text', { x: L - 6, y: y(max) + 4, class: 'ylabel' }, String(max)),
	    svg('text', { x: L - 6, y: y(0) + 4, class: 'ylabel' }, '0'),
	    g);
	const every = Math.max(1, Math.ceil(nb / 12));
	per.forEach((p, k) => {
		const x = L + k * bw, start = since + k * bms;
		let acc = 0;
		const col = svg('g', { class: 'bucket', 'data-bucket': k });
		for (const [s, text] of states) {
			const n = p[s] || 0;
			if (!n)
				continue;
			col.append(svg('rect', {
				class: `seg st-${s}`, 'data-state': s, 'data-n': n,
				x: (x + bw * 0.12).toFixed(1), width: (bw * 0.76).toFixed(1),
				y: y(acc + n).toFixed(1), height: (y(acc) - y(acc + n)).toFixed(1),
			}, svg('title', null, `${fmtTime(start)} – ${fmtTime(start + bms)}: ${text} ${n}`)));
			acc += n;
		}
		g.append(col);
		if (k % every === 0)
			root.append(svg('text', { x: (x + bw / 2).toFixed(1), y: H - 6, class: 'xlabel' },
			    bucketLabel(start, bms)));
	});
	const legend = h('ul', { class: 'legend', id: 'h-legend' }, states.filter(([s]) => totals[s] || known.has(s))
	    .map(([s, text]) => h('li', { 'data-state': s },
		h('span', { class: `swatch st-${s}` }), `${text} `, h('b', null, String(totals[s] || 0)))));
	const rows = per.map((p, k) => [k, p]).filter(([, p]) => Object.keys(p).length);
	const table = h('details', { class: 'hist-rows' },
	    h('summary', null, '按时间列出 As a table'),
	    rows.length ? h('table', { class: 'hist-table' },
		h('thead', null, h('tr', null, h('th', null, '自 From'),
		    states.map(([, text]) => h('th', { class: 'num' }, text)))),
		h('tbody', null, rows.map(([k, p]) => h('tr', null,
		    h('td', null, fmtTime(since + k * bms)),
		    states.map(([s]) => h('td', { class: 'num' }, String(p[s] || 0))))))) :
		h('p', { class: 'muted' }, '此时间窗内没有事项 No items in this window.'));
	return [root, legend, table];
}

function wireHistory() {
	for (const b of document.querySelectorAll('#view-history .h-win'))
		b.addEventListener('click', () => {
			if (S.hist)
				go(histHash(S.hist.name, b.dataset.w));
		});
	$('h-refresh').addEventListener('click', () => {
		const ph = histFromHash();
		if (ph)
			showHistory(ph.name, ph.win);
	});
}

/* ---- one item: its steps, failed attempts and escalations, in time order --- */

async function showItem(id) {
	const seq = ++S.openSeq;

	S.cur = null;
	setView('item');
	$('i-title').textContent = `事项 Item #${id}`;
	clear($('i-meta'));
	$('i-body').hidden = true;
	notice('i-notice', '加载中… loading');
	let it, pbs = null;
	try {
		[it, pbs] = await Promise.all([
			api('GET', `/items/${id}`),
			api('GET', '/playbooks').catch(() => null),
		]);
	} catch (e) {
		if (seq !== S.openSeq)
			return;
		notice('i-notice', readProblem(e, `#${id}`));
		return;
	}
	if (seq !== S.openSeq)
		return;
	notice('i-notice', '');
	const pb = pbs && (pbs.playbooks || []).find((p) => p.name === it.playbook);
	renderItem(it, pb);
	$('i-body').hidden = false;
}

/* The events of an item in the order they happened: queued, each step
 * (start = finished - ms: the journal keeps the end and the duration),
 * each failed attempt, each escalation and its decision. */
function itemEvents(it) {
	const ev = [{ at: it.created, kind: 'created' }];
	for (const s of it.steps || [])
		ev.push({ at: s.finished - (s.ms || 0), end: s.finished, kind: 'step', s });
	for (const f of it.failures || [])
		ev.push({ at: f.at, kind: 'failure', f });
	for (const e of it.escalations || []) {
		ev.push({ at: e.created, kind: 'escalation', e });
		if (e.decided_at)
			ev.push({ at: e.decided_at, kind: 'decision', e });
	}
	/* A failed attempt and its escalation are stamped alike: the failure
	 * first, then what it led to. */
	const order = { created: 0, step: 1, failure: 2, escalation: 3, decision: 4 };
	return ev.sort((a, b) => a.at - b.at || order[a.kind] - order[b.kind]);
}

function renderItem(it, pb) {
	const hist = canSeeHistory();
	const back = $('i-back');
	back.href = hist ? histHash(it.playbook) : '#/playbooks';
	back.textContent = hist ? `← ${it.playbook} 运行历史 history` : '← 流程 Playbooks';
	$('i-title').textContent = `事项 Item #${it.id} · ${it.playbook}`;
	clear($('i-meta')).append(...[
	    h('span', { class: 'badge state', id: 'i-state' }, it.state),
	    it.key ? h('span', { class: 'mono' }, `key ${it.key}`) : null,
	    h('span', null, `创建 created ${fmtStamp(it.created)}`),
	    h('span', null, `更新 updated ${fmtStamp(it.updated)}`),
	    it.priority ? h('span', null, `优先级 priority ${it.priority}`) : null,
	    it.pb_hash ? h('span', { class: 'mono', title: it.pb_hash }, `版本 version ${it.pb_hash.slice(0, 12)}`) : null,
	    hist ? h('a', { href: histHash(it.playbook), id: 'i-history' }, '流程历史 playbook history') : null,
	].filter(Boolean));

	const list = clear($('i-timeline'));
	const events = itemEvents(it);
	const top = Math.max(1, ...(it.steps || []).map((s) => s.ms || 0));
	for (const x of events)
		list.append(timelineRow(it, x, top));
	const done = new Set((it.steps || []).map((s) => s.step));
	const left = pb ? (pb.steps || []).filter((s) => !done.has(s.id)) : [];
	if (left.length && it.state !== 'done')
		list.append(h('li', { class: 'tl pending' },
		    h('div', { class: 'tl-when muted' }, '—'),
		    h('div', { class: 'tl-what' }, h('b', null, '未运行 Not run yet: '),
			h('code', null, left.map((s) => s.id).join(' → ')))));
	if (it.last_error && it.state !== 'done')
		list.append(h('li', { class: 'tl note' }, h('div', { class: 'tl-when muted' }, '—'),
		    h('div', { class: 'tl-what muted' }, `最近错误 last error (${it.last_error_kind || '?'}): ${it.last_error}`)));
	clear($('i-payload')).append(renderValue(it.payload));
}

function timelineRow(it, x, top) {
	const when = h('div', { class: 'tl-when mono' }, fmtStamp(x.at),
	    h('div', { class: 'muted' }, x.at >= it.created ? `+${fmtMs(x.at - it.created)}` : ''));
	if (x.kind === 'created')
		return h('li', { class: 'tl created' }, when,
		    h('div', { class: 'tl-what' }, h('b', null, '入队 Queued')));
	if (x.kind === 'step') {
		const s = x.s, bar = h('div', { class: 'durbar' }, h('div'));
		bar.firstChild.style.width = `${Math.max(0.5, 100 * (s.ms || 0) / top).toFixed(2)}%`;
		return h('li', { class: 'tl step', 'data-step': s.step }, when,
		    h('div', { class: 'tl-what' },
			h('div', null, h('b', null, '步骤 Step '), h('code', null, s.step),
			    h('span', { class: 'tl-ms num' }, fmtMs(s.ms))),
			h('div', { class: 'muted' }, `${fmtStamp(x.at)} → ${fmtStamp(x.end)}`),
			bar,
			s.output && Object.keys(s.output).length ? h('details', { class: 'tl-out' },
			    h('summary', null, '输出 output'), renderValue(s.output)) : null));
	}
	if (x.kind === 'failure') {
		const f = x.f;
		return h('li', { class: 'tl failure', 'data-step': f.step }, when,
		    h('div', { class: 'tl-what' },
			h('div', null, h('span', { class: 'badge st-bad' }, f.kind === 'system' ? '系统错误 system error' :
			    f.kind === 'business' ? '业务错误 business error' : (f.kind || '?')),
			    h('b', null, `第 ${f.attempt} 次尝试失败 attempt ${f.attempt} failed `), h('code', null, f.step),
			    ' · ', f.reason === 'retry' ? '将重试 retried' : h('code', null, f.reason)),
			h('div', { class: 'tl-msg' }, f.message || '')));
	}
	const e = x.e;
	if (x.kind === 'decision')
		return h('li', { class: 'tl decision', 'data-escalation': e.id }, when,
		    h('div', { class: 'tl-what' },
			h('b', null, `决定 Decision: ${DECISIONS[e.decision] || e.decision || e.state}`),
			` · ${e.decided_by || '?'}`,
			e.decision_reason ? h('div', { class: 'tl-msg' }, e.decision_reason) : null));
	const ctx = {};
	for (const [k, v] of Object.entries(e.context || {}))
		if (k !== 'payload')
			ctx[k] = v;
	return h('li', { class: 'tl escalation', 'data-escalation': e.id }, when,
	    h('div', { class: 'tl-what' },
		h('div', null, h('span', { class: 'badge st-warn' }, '转人工 escalated'),
		    h('b', null, h('code', null, e.reason)), ' · ', h('code', null, e.step_id), ' · ',
		    h('a', { href: `#/e/${e.id}`, class: 'esc-link' }, `复核 #${e.id} review`),
		    ' · ', e.state === 'open' ? h('span', { class: 'badge claimed' }, '未决 open') :
			h('span', { class: 'badge state' }, e.state)),
		h('div', { class: 'tl-msg' }, e.message || ''),
		Object.keys(ctx).length ? h('details', { class: 'tl-evidence', open: true },
		    h('summary', null, '证据 Evidence'), renderValue(ctx)) : null));
}

/* ---- dry run: a playbook on a sample, nothing queued or sent ---------------- */

/* POST /playbooks/NAME/test is a supervisor's (daemon/auth.c). */
function canDryRun() {
	return canPause();
}

/* The request body is at most 1 MiB (daemon/http.c), base64 and all. */
const TEST_SAMPLE_MAX = 760 * 1024;

function testNameFromHash() {
	const m = /^#\/test\/([^/]+)$/.exec(location.hash);
	return m ? decodeURIComponent(m[1]) : null;
}

function showTest(name) {
	S.cur = null;
	setView('test');
	if (S.test && S.test.name === name)
		return;
	S.test = { name, running: false };
	$('t-name').textContent = name;
	$('t-form').reset();
	$('t-text-box').open = false;
	formError('t-error', '');
	$('t-status').textContent = '';
	$('t-result').hidden = true;
	$('t-run').disabled = !canDryRun();
	if (!canDryRun())
		formError('t-error', '试运行需要主管或管理员角色。A dry run is for a supervisor or admin.');
}

function readBase64(file) {
	return new Promise((resolve, reject) => {
		const r = new FileReader();
		r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
		r.onerror = () => reject(r.error || new Error('cannot read the file'));
		r.readAsDataURL(file);
	});
}

function testJSON(id, what) {
	const text = $(id).value.trim();
	if (!text)
		return undefined;
	let v;
	try {
		v = JSON.parse(text);
	} catch (e) {
		throw new Error(`${what}: 不是 JSON, not JSON: ${e.message}`);
	}
	if (v === null || typeof v !== 'object' || Array.isArray(v))
		throw new Error(`${what}: 需要一个 JSON 对象 must be a JSON object {...}`);
	return v;
}

async function submitTest(ev) {
	ev.preventDefault();
	const t = S.test;
	if (!t || t.running)
		return;
	formError('t-error', '');
	const body = {};
	try {
		const payload = testJSON('t-payload', '业务数据 Payload');
		const approve = testJSON('t-approve', '更正 Approve');
		if (payload)
			body.payload = payload;
		if (approve)
			body.approve = approve;
		if ($('t-text-box').open && $('t-text').value.trim())
			body.playbook_text = $('t-text').value;
		const file = $('t-file').files[0];
		if (file) {
			if (file.size > TEST_SAMPLE_MAX)
				throw new Error(`样本太大 The sample is ${Math.round(file.size / 1024)} KiB;` +
				    ` a dry run takes at most ${TEST_SAMPLE_MAX / 1024} KiB (the API's 1 MiB request limit).`);
			body.sample = { name: file.name, content: await readBase64(file) };
		}
	} catch (e) {
		formError('t-error', e.message);
		return;
	}
	t.running = true;
	$('t-run').disabled = true;
	$('t-status').textContent = '运行中… running (OCR can take a few seconds)';
	try {
		const r = await api('POST', `/playbooks/${encodeURIComponent(t.name)}/test`, body);
		if (S.test === t)
			renderTest(r);
		$('t-status').textContent = '';
	} catch (e) {
		if (S.test === t) {
			const probs = e.status === 400 && e.problems ? e.problems : null;
			formError('t-error', probs ? `${e.message}\n${probs.join('\n')}` : e.message);
			$('t-status').textContent = '';
		}
	} finally {
		t.running = false;
		$('t-run').disabled = false;
	}
}

/* A step's evidence or output: small values as they are; of a big object
 * each member folded under its name, the few that matter most (the values
 * read, the verdict) open. */
const TEST_OPEN = new Set(['values', 'verdict', 'reasons', 'claim_no', 'status']);

function testValue(v) {
	if (v === undefined)
		return '';
	if (v === null || typeof v !== 'object' || JSON.stringify(v).length <= 400)
		return renderValue(v);
	return Object.keys(v).map((k) => {
		const sub = v[k];
		const small = sub === null || typeof sub !== 'object' || JSON.stringify(sub).length <= 160;
		if (small)
			return h('dl', { class: 'kv' }, h('dt', null, label(k)), h('dd', null, renderValue(sub)));
		return h('details', { class: 't-fold', 'data-key': k, open: TEST_OPEN.has(k) },
		    h('summary', null, label(k)), renderValue(sub));
	});
}

function testDecisionClass(d) {
	return d === 'ok' ? 'ok' : d === 'stubbed' ? 'stubbed' : d === 'escalate' || d === 'blocked' ? 'warn' : 'bad';
}

function renderTest(r) {
	$('t-result').hidden = false;
	$('t-outcome').textContent = r.outcome;
	$('t-outcome').className = 'badge ' + (r.failed ? 'bad' : /^done/.test(r.outcome) ? 'ok' : 'warn');
	$('t-meta').textContent = `${r.playbook} · ${r.source === 'playbook_text' ? '修改后的文本 changed text' : r.file}` +
	    ` · sha256 ${String(r.hash).slice(0, 12)} · ${r.input} · ${r.ms} ms`;
	const body = clear($('t-body'));
	(r.steps || []).forEach((s, i) => {
		const notes = [];
		if (s.effect)
			notes.push(h('div', null, h('b', null, '未运行 not run: '), s.effect));
		if (s.escalated)
			notes.push(h('div', null, h('b', null, '曾升级 escalated: '), `${s.escalated.reason} — ${s.escalated.message}`));
		if (s.approved)
			notes.push(h('div', null, h('b', null, '已按更正通过 approved as with the corrections')));
		if (s.approval_refused)
			notes.push(h('div', null, h('b', null, '更正被拒 refused: '), s.approval_refused));
		if (s.reason)
			notes.push(h('div', null, h('b', null, s.reason)));
		if (s.message)
			notes.push(h('div', { class: 't-message' }, s.message));
		if (s.until)
			notes.push(h('div', null, `until ${s.until}`));
		const ev = s.evidence && typeof s.evidence === 'object' ? Object.assign({}, s.evidence) : s.evidence;
		if (ev && typeof ev === 'object')
			delete ev.payload;   /* the inputs show what was read */
		body.append(h('tr', { 'data-step': s.step, class: 'd-' + s.decision },
		    h('td', { class: 'num' }, String(i + 1)),
		    h('td', null, h('b', null, s.step), s.connector ? h('div', { class: 'muted' }, `→ ${s.connector}`) : null),
		    h('td', null, s.kind),
		    h('td', { class: 't-decision' }, h('span', { class: 'badge ' + testDecisionClass(s.decision) }, s.decision),
			s.ms !== undefined ? h('div', { class: 'muted' }, `${s.ms} ms`) : null),
		    h('td', { class: 't-input' }, renderValue(s.input)),
		    h('td', { class: 't-notes' }, notes),
		    h('td', { class: 't-evidence' }, testValue(ev)),
		    h('td', { class: 't-output' }, testValue(s.output))));
	});
	const q = clear($('t-queue'));
	for (const w of r.would_queue || [])
		q.append(h('li', null, `将排队 would queue: ${w.playbook} ${w.key} (by step ${w.by_step})`));
}

/* ---- bulk decisions --------------------------------------------------------- */

/* Only escalations of one kind (playbook and reason) are decided together:
 * the reviewer has looked at what they approve as one sort of case. */
function bulkKind() {
	const picked = S.queue.filter((e) => S.bulk.has(e.id));
	const kinds = new Set(picked.map((e) => `${e.playbook} · ${e.reason}`));
	return { picked, kinds };
}

function toggleBulk(id, on) {
	if (on)
		S.bulk.add(id);
	else
		S.bulk.delete(id);
	S.bulkConfirm = null;
	renderBulk();
}

function renderBulk() {
	for (const id of [...S.bulk])
		if (!S.queue.some((e) => e.id === id))
			S.bulk.delete(id);
	const { picked, kinds } = bulkKind();
	const bar = $('bulk-bar');
	bar.hidden = picked.length === 0;
	$('bulk-all').checked = picked.length > 0 && picked.length === S.queue.length;
	for (const cb of document.querySelectorAll('#queue-body .bulk-pick'))
		cb.checked = S.bulk.has(Number(cb.closest('tr').dataset.id));
	if (!picked.length)
		return;
	const one = kinds.size === 1;
	$('bulk-count').textContent = `已选 ${picked.length} 件 selected` +
	    (one ? `（${[...kinds][0]}）` : `，${kinds.size} 种 kinds`);
	for (const [id, d] of [['bulk-approve', 'approve'], ['bulk-retry', 'retry']]) {
		const b = $(id);
		b.disabled = !one || !canDecide() || S.busy;
		b.textContent = S.bulkConfirm === d ?
		    `确认${VERBS[d]} ${picked.length} 件 Confirm` :
		    (d === 'approve' ? '批量批准 Approve selected' : '批量重试 Retry selected');
	}
	formError('bulk-error', one ? '' :
	    '只能批量决定同一流程、同一原因的事项。Only escalations of one playbook and reason are decided together.');
}

async function bulkDecide(decision) {
	const { picked, kinds } = bulkKind();
	if (!picked.length || kinds.size !== 1 || S.busy)
		return;
	/* The first press asks, the second decides. */
	if (S.bulkConfirm !== decision) {
		S.bulkConfirm = decision;
		renderBulk();
		return;
	}
	S.bulkConfirm = null;
	S.busy = true;
	renderBulk();
	const failed = [];
	let done = 0;
	for (const e of picked) {
		try {
			await api('POST', `/escalations/${e.id}/decide`, withBy({ decision }));
			done++;
			S.bulk.delete(e.id);
		} catch (err) {
			if (err.status === 401) {
				S.busy = false;
				return;
			}
			failed.push(`#${e.id}: ${err.message}`);
		}
	}
	S.busy = false;
	toast(`${DECISIONS[decision] || decision} ${done} 件` + (failed.length ? `，${failed.length} 件未成 failed` : ''));
	await refreshQueue();
	if (failed.length)
		formError('bulk-error', failed.slice(0, 5).join('; '));
}

function moveSelection(step) {
	const list = filtered();
	if (!list.length)
		return;
	let i = list.findIndex((e) => e.id === S.selectedId);
	i = Math.max(0, Math.min(list.length - 1, (i < 0 ? 0 : i + step)));
	S.selectedId = list[i].id;
	for (const tr of $('queue-body').rows)
		tr.classList.toggle('selected', Number(tr.dataset.id) === S.selectedId);
	const row = $('queue-body').querySelector('tr.selected');
	if (row)
		row.scrollIntoView({ block: 'nearest' });
}

function showQueue() {
	S.cur = null;
	setView('queue');
	renderQueue();
	refreshQueue();
}

function startRefresh() {
	if (S.refreshTimer === null)
		S.refreshTimer = setInterval(() => {
			if (!document.hidden)
				refreshQueue();
		}, REFRESH_MS);
}

function stopRefresh() {
	clearInterval(S.refreshTimer);
	S.refreshTimer = null;
}

/* The escalation after (step 1) or before (-1) id in the queue as shown. */
function neighbour(id, step, skipHeld) {
	const list = filtered(), now = Date.now();
	let i = list.findIndex((e) => e.id === id);

	if (i < 0)
		i = step > 0 ? -1 : list.length;
	for (i += step; i >= 0 && i < list.length; i += step)
		if (list[i].id !== id && !(skipHeld && heldByOther(list[i], now)))
			return list[i];
	return null;
}

/* ---- one escalation ------------------------------------------------------- */

async function leaveDetail() {
	const c = S.cur;

	clearInterval(S.renewTimer);
	S.renewTimer = null;
	S.cur = null;
	if (c && c.mine && !c.decided) {
		try {
			await api('POST', `/escalations/${c.id}/release`, withBy({}));
			const q = S.queue.find((e) => e.id === c.id);
			if (q)
				q.claimed_by = null;
		} catch (e) {
			showError(e);
		}
	}
}

async function claim(id) {
	return api('POST', `/escalations/${id}/claim`, withBy({ minutes: CLAIM_MINUTES }));
}

async function openDetail(id) {
	const seq = ++S.openSeq;
	let esc, item = null, held = null;

	setView('detail');
	$('d-title').textContent = `#${id}`;
	clear($('d-meta'));
	clear($('d-evidence')).append(h('p', { class: 'muted' }, '加载中… loading'));
	clear($('d-raw'));
	$('d-claim').hidden = true;
	formError('decide-error', '');
	hideReject();
	setDecideEnabled(false);
	if (!S.queueLoaded)
		loadQueue().catch((e) => { if (e.status !== 401) showError(e, 'queue'); });

	try {
		esc = await api('GET', `/escalations/${id}`);
	} catch (e) {
		if (seq !== S.openSeq)
			return;
		clear($('d-evidence')).append(h('p', { class: 'form-error' }, e.message));
		if (e.status !== 401)
			showError(e);
		return;
	}
	if (seq !== S.openSeq)
		return;
	const cur = { id, esc, item: null, mine: false, readonly: true, decided: esc.state !== 'open' };
	S.cur = cur;

	if (!cur.decided && canDecide()) {
		try {
			const c = await claim(id);
			if (c.claimed_by && c.claimed_by !== me()) {
				held = { by: c.claimed_by, until: c.until };
			} else {
				cur.mine = true;
				esc.claimed_by = c.claimed_by || me();
				esc.claim_expires = c.until;
			}
		} catch (e) {
			if (e.status === 409) {
				held = { message: e.message };
				try {
					const again = await api('GET', `/escalations/${id}`);
					Object.assign(esc, again);
					cur.decided = again.state !== 'open';
					if (again.claimed_by)
						held = { by: again.claimed_by, until: again.claim_expires, message: e.message };
				} catch (e2) {
					showError(e2);
				}
			} else if (e.status !== 401) {
				showError(e);
			}
		}
		if (seq !== S.openSeq || S.cur !== cur) {
			/* navigated away while the claim was on its way */
			if (cur.mine)
				api('POST', `/escalations/${id}/release`, withBy({})).catch((e) => showError(e));
			return;
		}
	}
	cur.readonly = !cur.mine || cur.decided;
	cur.held = held;
	try {
		item = await api('GET', `/items/${esc.item}`);
		cur.item = item;
	} catch (e) {
		if (e.status !== 401)
			showError(e);
	}
	if (seq !== S.openSeq || S.cur !== cur)
		return;
	renderDetail();
	if (cur.mine)
		S.renewTimer = setInterval(renewClaim, RENEW_MS);
}

async function renewClaim() {
	const c = S.cur;
	if (!c || !c.mine || c.decided)
		return;
	try {
		const r = await claim(c.id);
		c.esc.claim_expires = r.until;
		renderClaimNote();
	} catch (e) {
		if (e.status === 409) {
			c.mine = false;
			c.readonly = true;
			c.held = { message: e.message };
			renderDetail();
		}
		showError(e);
	}
}

function payloadOf(esc) {
	if (esc.payload && typeof esc.payload === 'object')
		return esc.payload;
	if (esc.context && esc.context.payload && typeof esc.context.payload === 'object')
		return esc.context.payload;
	return {};
}

function isRecon(esc) {
	const p = payloadOf(esc);
	return esc.playbook === 'fund-reconcile-difference' ||
	    (typeof p.kind === 'string' && Array.isArray(p.candidates));
}

function renderClaimNote() {
	const c = S.cur, e = c.esc, note = $('d-claim');
	let text = null, mine = false;

	if (c.decided) {
		text = `已决定 Decided: ${e.decision || e.state}` +
		    (e.decided_by ? `，由 ${e.decided_by}` : '') +
		    (e.decided_at ? `，${fmtTime(e.decided_at)}` : '') +
		    (e.decision_reason ? ` — ${e.decision_reason}` : '') + '（只读 read-only）';
	} else if (!canDecide()) {
		text = '只读角色 Read-only role: 可查看，不能决定。You can look but not decide.';
	} else if (c.mine) {
		mine = true;
		text = `已由你认领 Claimed by you (${me()}) 至 until ${fmtTime(e.claim_expires)}`;
	} else if (c.held) {
		const who = c.held.by || e.claimed_by;
		text = who ?
		    `正由 ${who} 处理，至 ${fmtTime(c.held.until || e.claim_expires)}（只读）` +
		    ` — Claimed by ${who} until ${fmtTime(c.held.until || e.claim_expires)}, read-only` :
		    `只读 Read-only: ${c.held.message}`;
	} else {
		text = '未能认领，只读 Not claimed: read-only';
	}
	note.textContent = text;
	note.classList.toggle('mine', mine);
	note.hidden = false;
}

function renderDetailMeta() {
	const c = S.cur, e = c.esc, now = Date.now();
	const meta = clear($('d-meta'));

	meta.append(...[
	    isOverdue(e, now) && e.state === 'open' ? h('span', { class: 'badge overdue' }, '逾期 overdue') : null,
	    h('span', null, `到期 due ${fmtTime(e.due)}`),
	    h('span', null, `事项 item #${e.item}` + (e.key ? ` · ${e.key}` : ''), ' ',
		h('a', { href: `#/i/${e.item}`, class: 'item-timeline' }, '时间线 item timeline')),
	    h('span', null, `步骤 step ${e.step_id}`),
	    e.priority ? h('span', null, `优先级 priority ${e.priority}`) : null,
	    h('span', { class: 'badge state' }, `${e.state}` + (e.item_state ? ` / ${e.item_state}` : '')),
	    e.assignee ? h('span', { class: 'badge ' + (e.assignee === me() ? 'mine' : 'state'), id: 'd-assignee' },
		`指派 assigned to ${e.assignee}`) : null,
	    e.attempts ? h('span', null, `尝试 attempts ${e.attempts}`) : null,
	    h('span', null, `创建 created ${fmtTime(e.created)}`)].filter(Boolean));
}

function renderDetail() {
	const c = S.cur, e = c.esc;

	$('d-title').textContent = `#${e.id} ${e.playbook}`;
	renderDetailMeta();
	renderClaimNote();
	$('d-reason').textContent = e.reason || '';
	$('d-message').textContent = e.message || '';

	const ev = clear($('d-evidence'));
	const ocr = ocrOf(e);
	const exchanges = ocr ? null : exchangesOf(e);
	if (ocr)
		renderDocument(ev, e, ocr);
	else if (exchanges)
		renderLegacy(ev, e, exchanges);
	else if (isRecordCase(e))
		renderRecords(ev, e);
	else if (isRecon(e))
		renderRecon(ev, e);
	else
		renderGeneric(ev, e);
	renderComments();
	hideSideForms();
	$('act-comment').disabled = !canDecide();
	renderSteps(ev);
	clear($('d-raw')).append(h('pre', { class: 'mono' }, JSON.stringify(e.context, null, 2)));
	setDecideEnabled(!c.readonly);
}

/* ---- assign and comment -------------------------------------------------- */

function renderComments() {
	const list = clear($('d-comments'));
	const cs = (S.cur && S.cur.esc.comments) || [];
	for (const c of cs)
		list.append(h('li', null,
		    h('div', { class: 'c-meta' }, `${c.author} · ${fmtTime(c.ts)}`),
		    h('div', { class: 'c-text' }, c.text)));
	if (!cs.length)
		list.append(h('li', { class: 'muted' }, '暂无 none yet'));
}

function canAssign() {
	const c = S.cur;
	if (!c || c.decided || !canDecide())
		return false;
	if (S.auth.role === 'admin' || S.auth.role === 'supervisor')
		return true;
	return c.mine || c.esc.assignee === me();
}

function hideSideForms() {
	$('assign-form').hidden = true;
	$('comment-form').hidden = true;
	formError('assign-error', '');
	formError('comment-error', '');
}

function showAssign() {
	if (!canAssign()) {
		formError('decide-error', '只能转交你认领或指派给你的事项 You can hand over only what you hold.');
		return;
	}
	hideSideForms();
	$('assign-form').hidden = false;
	$('assign-to').focus();
}

function showComment() {
	if (!canDecide())
		return;
	hideSideForms();
	$('comment-form').hidden = false;
	$('comment-text').focus();
}

async function reloadCur() {
	const c = S.cur;
	if (!c)
		return;
	const again = await api('GET', `/escalations/${c.id}`);
	if (S.cur === c) {
		c.esc = Object.assign(c.esc, again);
		renderComments();
		renderDetailMeta();
	}
}

async function submitAssign(ev) {
	ev.preventDefault();
	const c = S.cur, to = $('assign-to').value.trim();
	if (!c)
		return;
	if (!to) {
		formError('assign-error', '请填写用户名 Enter a user name.');
		return;
	}
	$('assign-submit').disabled = true;
	try {
		await api('POST', `/escalations/${c.id}/assign`, withBy({ to }));
	} catch (e) {
		formError('assign-error', e.message);
		return;
	} finally {
		$('assign-submit').disabled = false;
	}
	$('assign-to').value = '';
	hideSideForms();
	toast(`#${c.id} 已转交 assigned to ${to}`);
	if (to !== me()) {
		/* The claim went along with it: this one is theirs now. */
		c.mine = false;
		c.readonly = true;
		clearInterval(S.renewTimer);
		S.renewTimer = null;
	}
	try {
		await reloadCur();
		if (S.cur === c)
			renderDetail();
	} catch (e) {
		showError(e);
	}
}

async function submitComment(ev) {
	ev.preventDefault();
	const c = S.cur, text = $('comment-text').value;
	if (!c)
		return;
	if (!text.trim()) {
		formError('comment-error', '评论为空 The comment is empty.');
		return;
	}
	if (new TextEncoder().encode(text).length > 4000) {
		formError('comment-error', '评论过长（最多 4000 字节）The comment is over 4000 bytes.');
		return;
	}
	$('comment-submit').disabled = true;
	try {
		await api('POST', `/escalations/${c.id}/comments`, withBy({ text }));
	} catch (e) {
		formError('comment-error', e.message);
		return;
	} finally {
		$('comment-submit').disabled = false;
	}
	$('comment-text').value = '';
	hideSideForms();
	try {
		await reloadCur();
	} catch (e) {
		showError(e);
	}
}

/* ---- a document: the page with its fields outlined ------------------------ */

/* The OCR result (the ocr.check contract): the step's own context, or one an
 * upstream system put in the payload. */
function ocrOf(esc) {
	const ctx = esc.context || {};
	const cands = [ctx.ocr, ctx.payload && ctx.payload.ocr, esc.payload && esc.payload.ocr];
	return cands.find((o) => o && typeof o === 'object' && Array.isArray(o.fields)) || null;
}

const FIELD_STATUS = {
	ok: ['st-ok', '正确 ok'], invalid: ['st-bad', '无效 invalid'], missing: ['st-bad', '缺失 missing'],
	low_confidence: ['st-warn', '置信度低 low confidence'], mismatch: ['st-bad', '不一致 mismatch'],
	warning: ['st-warn', '提示 warning'],
};

function boxClass(status) {
	const c = (FIELD_STATUS[status] || ['st-warn'])[0];
	return c === 'st-ok' ? '' : c === 'st-bad' ? ' bad' : ' warn';
}

/* An artifact through the API (a bearer token cannot ride on <img src>). */
async function artifactURL(item, name) {
	const a = S.auth, headers = {};
	if (a && a.mode === 'token')
		headers.Authorization = 'Bearer ' + a.token;
	const res = await fetch(`${API}/items/${item}/artifacts/${encodeURIComponent(name)}`,
	    { headers, credentials: 'same-origin' });
	if (!res.ok) {
		let msg = `HTTP ${res.status}`;
		try {
			msg = (await res.json()).error.message;
		} catch (e) {
			/* not JSON */
		}
		throw new ApiError(res.status, 'artifact', `${name}: ${msg}`);
	}
	return URL.createObjectURL(await res.blob());
}

function activateField(name) {
	for (const el of document.querySelectorAll('.page .box, .ofield'))
		el.classList.toggle('active', el.dataset.field === name);
}

/* What a reviewer corrected on this document's check, once decided:
 * {field: {read, value}} from the step's output (or, until the step has
 * run again, the approval waiting in the payload). */
function correctionsOf(e) {
	const item = S.cur && S.cur.item;
	if (!item || e.state === 'open')
		return {};
	const st = (item.steps || []).find((x) => x.step === e.step_id);
	const out = st && st.output;
	if (out && out.corrections && typeof out.corrections === 'object')
		return out.corrections;
	const a = item.payload && item.payload._approved && item.payload._approved[e.step_id];
	const fixed = {};
	if (a && a.fields && typeof a.fields === 'object')
		for (const [k, v] of Object.entries(a.fields))
			fixed[k] = { read: null, value: v };
	return fixed;
}

function renderDocument(ev, e, ocr) {
	const fields = ocr.fields;
	const fixes = correctionsOf(e);
	const pages = Array.isArray(ocr.pages) && ocr.pages.length ? ocr.pages : [{ page: 1 }];
	const pageBox = h('div', { class: 'pages' });
	const list = h('div', { class: 'ofields' });
	const form = h('form', { id: 'ocr-form', novalidate: true, onsubmit: submitFields },
	    list,
	    h('p', { class: 'form-error', id: 'ocr-error', role: 'alert', hidden: true }),
	    h('div', { class: 'form-actions' },
		h('button', { type: 'submit', class: 'primary decides', id: 'ocr-submit' },
		    '更正并继续 Correct & resume'),
		h('span', { class: 'muted' }, '只提交修改过的字段 Only changed fields are sent')));

	for (const pg of pages) {
		const holder = h('div', { class: 'page', 'data-page': pg.page || 1 },
		    h('p', { class: 'muted' }, '加载页面… loading page'));
		pageBox.append(holder);
		const w = Number(pg.width), ht = Number(pg.height);
		if (!pg.image) {
			clear(holder).append(h('p', { class: 'muted' }, '没有页面图像 no page image'));
			continue;
		}
		artifactURL(e.item, pg.image).then((url) => {
			const img = h('img', { alt: `第 ${pg.page || 1} 页 page ${pg.page || 1}`, src: url });
			clear(holder).append(img);
			img.addEventListener('load', () => {
				URL.revokeObjectURL(url);
				const W = w > 0 ? w : img.naturalWidth, H = ht > 0 ? ht : img.naturalHeight;
				for (const f of fields) {
					if ((f.page || 1) !== (pg.page || 1) || !Array.isArray(f.box) || f.box.length !== 4)
						continue;
					const [x, y, bw, bh] = f.box.map(Number);
					/* Percent of the page: the boxes scale with the image as shown. */
					holder.append(h('div', {
						class: 'box' + boxClass(f.status), 'data-field': f.name,
						title: `${f.label || f.name}: ${f.value ?? ''}`,
						style: null,
						onclick: () => {
							activateField(f.name);
							const inp = document.querySelector(`#ocr-form [name="${CSS.escape(f.name)}"]`);
							if (inp)
								inp.focus();
						},
					}, h('span', { class: 'tag' }, f.label || f.name)));
					const b = holder.lastChild.style;
					b.left = `${(100 * x / W).toFixed(3)}%`;
					b.top = `${(100 * y / H).toFixed(3)}%`;
					b.width = `${(100 * bw / W).toFixed(3)}%`;
					b.height = `${(100 * bh / H).toFixed(3)}%`;
				}
			}, { once: true });
		}).catch((err) => {
			clear(holder).append(h('p', { class: 'form-error' }, err.message));
		});
	}
	for (const f of fields) {
		const [cls, stText] = FIELD_STATUS[f.status] || ['st-warn', f.status || '?'];
		const input = h('input', { type: 'text', autocomplete: 'off', name: f.name });
		input.value = f.value === null || f.value === undefined ? '' : String(f.value);
		const fix = fixes[f.name];
		if (fix)
			input.value = String(fix.value);
		input.dataset.orig = input.value;
		input.dataset.ftype = f.type || '';
		input.classList.add('decides', 'field');
		input.addEventListener('input', () => input.classList.toggle('changed', input.value !== input.dataset.orig));
		input.addEventListener('focus', () => activateField(f.name));
		list.append(h('div', { class: 'ofield', 'data-field': f.name },
		    h('div', { class: 'ohead' },
			h('b', null, f.label || f.name),
			h('span', null,
			    typeof f.confidence === 'number' ?
				h('span', { class: 'conf' }, `${f.confidence.toFixed(1)}% `) : null,
			    h('span', { class: 'badge ' + cls }, stText))),
		    h('label', null, h('span', { class: 'muted mono' }, f.name + (f.type ? ` · ${f.type}` : '')), input),
		    fix ? h('div', { class: 'ocorr' },
			`更正为 corrected to ${fix.value}；OCR 识别 read ${f.value ?? fix.read ?? '—'}`) : null,
		    f.message ? h('div', { class: 'omsg' }, f.message) : null));
	}
	const reasons = Array.isArray(ocr.reasons) ? ocr.reasons : [];
	ev.append(
	    h('h2', null, '单据 Document' + (ocr.document_type ? `：${ocr.document_type}` : '') +
		(ocr.template ? ` (${ocr.template})` : '')),
	    reasons.length ? h('ul', { class: 'ocr-reasons' }, reasons.map((r) =>
		h('li', null, (r.field ? `${r.field}: ` : '') + (r.message || r.code || '')))) : null,
	    h('div', { class: 'doc' }, pageBox, form));
}

/* GB 11643-1999: 17 digits and a check character (ISO 7064 MOD 11-2),
 * with a real birth date. null when valid, else why not. */
const ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
function idProblem(v) {
	const id = v.trim().toUpperCase();
	if (!/^[0-9]{17}[0-9X]$/.test(id))
		return '身份证号为 17 位数字加校验码 an ID number is 17 digits and a check character';
	const y = Number(id.slice(6, 10)), m = Number(id.slice(10, 12)), d = Number(id.slice(12, 14));
	const birth = new Date(Date.UTC(y, m - 1, d));
	if (y < 1900 || birth.getUTCMonth() !== m - 1 || birth.getUTCDate() !== d || birth > new Date())
		return '出生日期无效 the birth date in it is not a real date';
	let sum = 0;
	for (let i = 0; i < 17; i++)
		sum += Number(id[i]) * ID_W[i];
	const want = '10X98765432'[sum % 11];
	if (id[17] !== want)
		return `校验码应为 ${want} the check character should be ${want}`;
	return null;
}

/* The corrected ID numbers are checked here, before anything is sent. */
function checkIds(inputs, errId) {
	for (const input of inputs) {
		const why = input.value.trim() ? idProblem(input.value) : null;
		input.classList.toggle('invalid', !!why);
		if (why) {
			formError(errId, `${input.name}: ${why}`);
			input.focus();
			return false;
		}
	}
	return true;
}

function submitFields(ev) {
	ev.preventDefault();
	const changes = {};
	formError('ocr-error', '');
	const ids = [];
	for (const input of document.querySelectorAll('#ocr-form .field'))
		if (input.value !== input.dataset.orig) {
			changes[input.name] = input.value;
			if (input.dataset.ftype === 'cn_id')
				ids.push(input);
		}
	if (!checkIds(ids, 'ocr-error'))
		return;
	if (!Object.keys(changes).length) {
		formError('ocr-error', '没有修改任何字段；无需修改请直接批准。Nothing changed: approve it as it is.');
		return;
	}
	decide('approve', { payload: { fields: changes } });
}

function setDecideEnabled(on) {
	$('act-assign').disabled = S.busy || !canAssign();
	for (const id of ['act-approve', 'act-retry', 'act-edit', 'act-reject', 'reject-submit'])
		$(id).disabled = !on;
	$('reject-reason').disabled = !on;
	for (const el of document.querySelectorAll('#d-evidence .decides'))
		el.disabled = !on || el.dataset.taken === '1';
}

function lineCard(p) {
	const fen = typeof p.amount_fen === 'number' ? p.amount_fen : toFen(p.amount);
	return h('div', { class: 'line' },
	    h('div', { class: 'amount' }, '¥ ', amountText(p)),
	    h('dl', { class: 'kv' },
		h('dt', null, label('kind')), h('dd', null, DIFF_KINDS[p.kind] || p.kind || '—'),
		h('dt', null, label('side')), h('dd', null, p.side === 'bank' ? '银行 bank' : p.side === 'ledger' ? '账簿 ledger' : (p.side || '—')),
		h('dt', null, label('date')), h('dd', null, p.date || '—'),
		h('dt', null, label('ref')), h('dd', null, p.ref || '—'),
		h('dt', null, label('counterparty')), h('dd', null, p.counterparty || '—'),
		p.text ? [h('dt', null, label('text')), h('dd', null, p.text)] : null,
		p.difference !== undefined && toFen(p.difference) !== fen ?
		    [h('dt', null, label('difference')), h('dd', null, String(p.difference))] : null,
		h('dt', null, '来源 source'), h('dd', { class: 'mono' }, `${p.file || '?'}:${p.line ?? '?'}`),
		p.run_key ? [h('dt', null, label('run_key')), h('dd', null, p.run_key)] : null,
		p.report ? [h('dt', null, label('report')), h('dd', { class: 'mono' }, p.report)] : null));
}

function dayDiff(a, b) {
	const x = Date.parse(a), y = Date.parse(b);
	if (Number.isNaN(x) || Number.isNaN(y))
		return null;
	return Math.round((x - y) / 86400000);
}

function renderRecon(ev, e) {
	const p = payloadOf(e);
	const cands = Array.isArray(p.candidates) ? p.candidates : [];
	const lineFen = typeof p.amount_fen === 'number' ? p.amount_fen : toFen(p.amount);
	const list = h('div', { class: 'cands' });
	// lines other reviewers have booked since this difference was made
	const matched = e.matched && typeof e.matched === 'object' ? e.matched : {};
	const taken = new Map((Array.isArray(matched.candidates) ? matched.candidates : [])
	    .map((x) => [x.index, x.pair]));
	const own = matched.line || null;
	const pairText = (x, bank) => x ? `${bank ? '银行行 bank line' : '账簿行 ledger line'} ` +
	    `${(bank ? x.bank_ref : x.ledger_ref) || ''} ${(bank ? x.bank_date : x.ledger_date) || ''} ` +
	    `¥ ${fmtFen(bank ? x.bank_amount : x.ledger_amount)}` : '';

	cands.forEach((c, i) => {
		const fen = typeof c.amount_fen === 'number' ? c.amount_fen : toFen(c.amount);
		const dd = dayDiff(c.date, p.date);
		const same = fen !== null && lineFen !== null && Math.abs(fen) === Math.abs(lineFen);
		list.append(h('div', { class: 'cand' + (same ? ' same-amount' : ''), 'data-ref': c.ref || '' },
		    h('div', null,
			h('div', { class: 'amount' }, '¥ ', amountText(c)),
			h('div', { class: 'diff' },
			    same ? '金额相同 same amount' : (fen !== null && lineFen !== null ?
				`金额差 off by ${fmtFen(Math.abs(fen) - Math.abs(lineFen))}` : ''),
			    dd !== null ? ` · 日期差 ${dd > 0 ? '+' : ''}${dd} 天 days` : ''),
			h('dl', { class: 'kv' },
			    h('dt', null, label('date')), h('dd', null, c.date || '—'),
			    h('dt', null, label('ref')), h('dd', null, c.ref || '—'),
			    h('dt', null, label('counterparty')), h('dd', null, c.counterparty || '—'),
			    c.text ? [h('dt', null, label('text')), h('dd', null, c.text)] : null,
			    h('dt', null, '来源 source'), h('dd', { class: 'mono' }, `${c.file || '?'}:${c.line ?? '?'}`))),
		    taken.has(i) ? h('p', { class: 'taken' },
			'已被匹配 already matched to ', pairText(taken.get(i), p.side === 'bank')) : null,
		    h('button', {
			type: 'button', class: 'primary decides match',
			'data-index': i,
			disabled: taken.has(i) || own ? '' : null,
			'data-taken': taken.has(i) || own ? '1' : null,
			onclick: () => matchWith(c),
		    }, '与此匹配 Match with this')));
	});
	if (!cands.length)
		list.append(h('p', { class: 'muted' },
		    '没有候选行。批准即确认为未达账项或手续费。 No candidates: approving accepts it as outstanding (未达账项) or a fee.'));

	ev.append(
	    h('h2', null, '对账差异 Reconciliation difference'),
	    own ? h('p', { class: 'booked', id: 'recon-booked' },
		'此行已在另一差异中匹配 This line is already matched to ', pairText(own, p.side !== 'bank'),
		'。批准即关闭，不再记账 Approve to close it: nothing more is booked.') : null,
	    h('div', { class: 'recon' },
		h('div', null, h('h3', null, p.side === 'ledger' ? '账簿行 Ledger line' : '银行行 Statement line'), lineCard(p)),
		h('div', null, h('h3', null, `候选匹配 Candidates (${cands.length})`), list)),
	    h('details', { class: 'edit-box', id: 'edit-box' },
		h('summary', null, '更正字段并继续 Correct fields and resume'),
		payloadForm(p)));
}

/* ---- a legacy-system case: the refusal, the case, every exchange ------------ */

/* The http.submit / http.request contract: {connector, outcome, code,
 * evidence: [{method, url, ms, request, status, type, body, truncated,
 * error, note}], values}. */
function exchangesOf(esc) {
	const ev = (esc.context || {}).evidence;
	return Array.isArray(ev) && ev.some((x) => x && typeof x === 'object' && typeof x.url === 'string') ?
	    ev.filter((x) => x && typeof x === 'object') : null;
}

const OUTCOMES = {
	business: '业务拒绝 refused by the system',
	system: '系统错误 system error',
	unknown: '结果不明 outcome unknown',
	auth: '登录失败 sign-in refused',
	wait: '等待 waiting',
};

function exchangeFailed(x) {
	return !!x.error || (typeof x.status === 'number' && x.status >= 400) ||
	    (typeof x.body === 'string' && /biz-error|"error"\s*:|<soap:Fault|:Fault>/i.test(x.body));
}

function toggleBody(btn, row, open) {
	row.hidden = !open;
	btn.setAttribute('aria-expanded', String(open));
	btn.textContent = open ? '收起 Hide' : '正文 Body';
}

function renderLegacy(ev, e, exchanges) {
	const ctx = e.context || {}, p = payloadOf(e);
	const tbody = h('tbody');
	/* The reply that made the step give up is the last one that failed,
	 * else the last one: opened, the others a click away. */
	let focus = -1;
	exchanges.forEach((x, i) => { if (exchangeFailed(x)) focus = i; });
	if (focus < 0)
		focus = exchanges.length - 1;

	exchanges.forEach((x, i) => {
		const hasBody = typeof x.body === 'string' && x.body.length > 0;
		/* The legacy system's page as text: textContent in a <pre>, so
		 * none of its markup or scripts becomes part of this page. */
		const pre = h('pre', { class: 'xbody mono' });
		pre.textContent = hasBody ? x.body : '';
		const bodyRow = h('tr', { class: 'xbody-row', 'data-index': i, hidden: true },
		    h('td', { colspan: 7 },
			x.request ? h('div', { class: 'xreq' }, h('span', { class: 'muted' }, '请求 request: '),
			    h('code', null, x.request)) : null,
			x.note ? h('div', { class: 'muted' }, x.note) : null,
			hasBody ? pre : h('p', { class: 'muted' }, x.error ? `无应答 no answer: ${x.error}` : '无正文 no body'),
			x.truncated ? h('p', { class: 'muted' }, '正文已截断（evidence_limit）the body was cut at evidence_limit') : null));
		const btn = h('button', { type: 'button', class: 'link xtoggle', 'aria-expanded': 'false' }, '正文 Body');
		btn.addEventListener('click', () => toggleBody(btn, bodyRow, bodyRow.hidden));
		const bad = exchangeFailed(x);
		tbody.append(h('tr', { class: 'xrow' + (bad ? ' bad' : ''), 'data-index': i },
		    h('td', null, String(i + 1)),
		    h('td', null, h('code', null, x.method || '?')),
		    h('td', { class: 'xurl mono' }, x.url || ''),
		    h('td', { class: 'xstatus' }, x.error ? h('span', { class: 'badge st-bad' }, '无应答 no answer') :
			h('span', { class: 'badge ' + (bad ? 'st-bad' : 'st-ok') }, String(x.status ?? '—'))),
		    h('td', { class: 'muted' }, x.type ? String(x.type).split(';')[0] : ''),
		    h('td', { class: 'num' }, typeof x.ms === 'number' ? `${x.ms.toFixed(0)} ms` : ''),
		    h('td', null, btn)), bodyRow);
		if (i === focus)
			toggleBody(btn, bodyRow, true);
	});

	const outcome = ctx.outcome ? (OUTCOMES[ctx.outcome] || ctx.outcome) : null;
	const caseKv = h('dl', { class: 'kv' }, Object.entries(p).filter(([, v]) => v === null || typeof v !== 'object')
	    .map(([k, v]) => [h('dt', null, label(k)), h('dd', { class: 'mono' }, v === null ? '—' : String(v))]));
	const values = ctx.values && typeof ctx.values === 'object' && Object.keys(ctx.values).length ?
	    ctx.values : null;

	ev.append(
	    h('h2', null, '旧系统案件 Legacy-system case' + (ctx.connector ? ` · ${ctx.connector}` : '')),
	    h('div', { class: 'refusal' + (ctx.outcome === 'business' ? ' business' : '') },
		h('div', { class: 'rhead' },
		    outcome ? h('span', { class: 'badge st-bad' }, outcome) : null,
		    ctx.code ? h('code', { class: 'rcode' }, ctx.code) : null),
		h('p', { class: 'rmsg' }, e.message || '')),
	    h('div', { class: 'legacy' },
		h('div', null, h('h3', null, '案件 Case'), caseKv),
		values ? h('div', null, h('h3', null, '系统返回的值 Values read'), renderValue(values)) : null),
	    h('h3', null, `往来记录 Exchanges (${exchanges.length})`),
	    h('table', { class: 'exchanges' },
		h('thead', null, h('tr', null,
		    h('th', null, '#'), h('th', null, '方法 Method'), h('th', null, '地址 URL'),
		    h('th', null, '状态 Status'), h('th', null, '类型 Type'), h('th', null, '耗时 Time'), h('th'))),
		tbody),
	    h('p', { class: 'muted' }, '驳回 = 结案并说明原因；重试 = 再次提交；更正 = 修改案件字段后重新办理此步；' +
		'批准 = 视此步为已办结（仅当已在旧系统中办好）。 Reject closes the case with a reason; retry' +
		' sends it again; correct changes the case and runs this step again; approve counts this step' +
		' as done (only when it was done in the legacy system by hand).'),
	    h('details', { class: 'edit-box', id: 'edit-box' },
		h('summary', null, '更正案件字段并继续 Correct the case and resume'),
		payloadForm(p)));
}

/* ---- record matching: the records side by side with the score ------------- */

const REC_ROWS = [
	['source', '来源 source'], ['id', '身份证号 ID'], ['id_check', 'ID 校验 check'],
	['name', '姓名 name'], ['name_initials', '拼音首字母 initials'], ['birth', '出生 birth'],
	['sex', '性别 sex'], ['region', '地区 region'], ['from', '起 from'], ['to', '止 to'],
	['benefit', '待遇 benefit'], ['amount', '金额 amount'],
];

/* What says who a person is: a difference here is what the reviewer
 * weighs (periods and amounts differ between duplicates anyway). */
const IDENTITY = new Set(['id', 'id_check', 'name', 'name_initials', 'birth', 'sex', 'region']);

const COMPONENTS = [['id', '身份证号 ID'], ['name', '姓名 name'], ['birth', '出生 birth'],
	['sex', '性别 sex'], ['region', '地区 region']];

function recCell(r, k) {
	if (k === 'source')
		return `${(r.file || '?').split('/').pop()}:${r.line ?? '?'}`;
	if (k === 'amount')
		return typeof r.amount_fen === 'number' ? fmtFen(r.amount_fen) : '';
	if (k === 'id' && r.id_written_in_15_digits)
		return `${r.id || ''} (15 位 15-digit)`;
	return r[k] === undefined || r[k] === null ? '' : String(r[k]);
}

const recKey = (r) => `${r.file}:${r.line}`;

/* Records as columns, fields as rows; a value unlike the first column's
 * is marked. */
function recordsTable(cols) {
	const rows = REC_ROWS.filter(([k]) => cols.some((c) => recCell(c.rec, k) !== ''));
	return h('table', { class: 'records' },
	    h('thead', null, h('tr', null, h('th'), cols.map((c) =>
		h('th', { 'data-rec': recKey(c.rec) }, c.title)))),
	    h('tbody', null, rows.map(([k, name]) => h('tr', { 'data-field': k },
		h('th', null, name),
		cols.map((c, i) => {
			const v = recCell(c.rec, k);
			const differs = i > 0 && IDENTITY.has(k) && v !== recCell(cols[0].rec, k);
			return h('td', { class: 'mono' + (differs ? ' differs' : '') }, v || '—');
		})))));
}

function scoreTable(pairs, name) {
	return h('table', { class: 'scores' },
	    h('thead', null, h('tr', null, h('th', null, '记录 records'),
		COMPONENTS.map(([, t]) => h('th', null, t)),
		h('th', null, '总分 score'), h('th', null, '判定 decision'))),
	    h('tbody', null, pairs.map((pr) => h('tr', { class: 'pair' },
		h('td', { class: 'mono' }, name(pr)),
		COMPONENTS.map(([k]) => {
			const c = (pr.components || {})[k] || {};
			const pts = typeof c.points === 'number' ? c.points : null;
			return h('td', { class: 'comp' + (pts !== null && pts < 0 ? ' neg' : pts > 0 ? ' pos' : '') },
			    h('div', null, c.result || '—'),
			    pts !== null ? h('div', { class: 'pts' }, `${pts > 0 ? '+' : ''}${pts}`) : null);
		}),
		h('td', { class: 'num score' }, String(pr.score ?? '—')),
		h('td', null, h('span', { class: 'badge state' }, pr.decision || '—'))))));
}

function isRecordCase(esc) {
	const p = payloadOf(esc);
	return (Array.isArray(p.members) && Array.isArray(p.links) && p.survivor) ||
	    (p.recipient && typeof p.recipient === 'object' && Array.isArray(p.hits));
}

function renderMerge(ev, e, p) {
	const sv = recKey(p.survivor);
	const members = p.members.slice().sort((a, b) => (recKey(b) === sv) - (recKey(a) === sv));
	const cols = members.map((r, i) => ({ rec: r,
	    title: recKey(r) === sv ? '保留 survivor' : `记录 record ${i + 1}` }));
	const idx = new Map(members.map((r, i) => [recKey(r), i]));
	const nameOf = (r) => {
		const i = idx.get(recKey(r));
		return i === undefined ? recCell(r, 'source') : (i === 0 && recKey(r) === sv ? '保留' : `#${i + 1}`) +
		    ` ${recCell(r, 'source')}`;
	};
	const periods = Array.isArray(p.combined_periods) ? p.combined_periods : [];
	ev.append(
	    h('h2', null, (p.reason === 'possible_double_enrolment' ? '可能重复参保 Possible double enrolment' :
		'疑似同一人 Possible duplicate') + ` · ${members.length} 条记录 records`),
	    h('div', { class: 'records-wrap' }, recordsTable(cols)),
	    h('h3', null, `比对得分 Score components (${p.links.length})`),
	    scoreTable(p.links, (pr) => `${nameOf(pr.left)} ↔ ${nameOf(pr.right)}`),
	    periods.length ? h('div', null, h('h3', null, '合并后的缴费期间 Combined contribution periods'),
		h('p', { class: 'mono periods' }, periods.map((x) => `${x.from} ~ ${x.to}`).join('　'))) : null,
	    h('p', { class: 'muted' }, '批准 = 同一人，写入合并指令；驳回 = 不同的人（需说明原因）。' +
		' Approve: one person, the merge is written. Reject: different people (give the reason).'));
}

const REGISTRIES = { deceased: '死亡登记 death registry', in_prison: '服刑人员 prison registry',
	double_draw: '异地领取 another region\'s recipients' };

function renderCrosscheck(ev, e, p) {
	const hits = p.hits;
	const cols = [{ rec: p.recipient, title: '领取人 recipient' }].concat(hits.map((x) => ({
		rec: x.right || {}, title: `${REGISTRIES[x.registry] || x.registry || '登记'}`,
	})));
	const dates = Array.isArray(p.payments_at_risk) ? p.payments_at_risk : [];
	ev.append(
	    h('h2', null, '四比对 Benefit cross-check' + (p.summary ? `：${p.summary}` : '')),
	    h('div', { class: 'risk' },
		h('div', null, h('div', { class: 'muted' }, '风险金额 Amount at risk'),
		    h('div', { class: 'amount', id: 'amount-at-risk' }, '¥ ', p.amount_at_risk ??
			(fmtFen(p.amount_at_risk_fen) || '—'))),
		h('div', null, h('div', { class: 'muted' }, '涉及发放 Payments at risk'),
		    h('div', { class: 'big' }, String(p.payments_at_risk_count ?? dates.length))),
		h('div', null, h('div', { class: 'muted' }, '下次发放 Next payment'),
		    h('div', { class: 'big mono' }, p.next_payment || '—')),
		h('div', null, h('div', { class: 'muted' }, '建议 Action'),
		    h('div', { class: 'big' }, p.action === 'suspend' ? '暂停发放 suspend' : '人工核实 review'))),
	    h('div', { class: 'records-wrap' }, recordsTable(cols)),
	    h('h3', null, `登记记录 Registry hits (${hits.length})`),
	    h('ul', { class: 'hits' }, hits.map((x) => h('li', null,
		h('b', null, REGISTRIES[x.registry] || x.registry || '?'), ' · ', x.event || '',
		x.registry_file ? h('span', { class: 'muted mono' }, ` (${x.registry_file.split('/').pop()}:${(x.right || {}).line ?? '?'})`) : null))),
	    h('h3', null, '比对得分 Score components'),
	    scoreTable(hits, (x) => `领取人 ↔ ${REGISTRIES[x.registry] || x.registry}`),
	    h('h3', null, `风险发放日期 Payment dates at risk (${dates.length})`),
	    dates.length ? h('p', { class: 'mono periods', id: 'risk-dates' }, dates.join('　')) :
		h('p', { class: 'muted' }, '无 none'),
	    h('p', { class: 'muted' }, '批准 = 登记记录就是此人，暂停下次发放；驳回 = 另一个人（需说明原因）。' +
		' Approve: the hit is this recipient, the next payment is suspended. Reject: another person (give the reason).'));
}

function renderRecords(ev, e) {
	const p = payloadOf(e);
	if (Array.isArray(p.members))
		renderMerge(ev, e, p);
	else
		renderCrosscheck(ev, e, p);
}

function renderGeneric(ev, e) {
	const p = payloadOf(e);
	const others = {};

	for (const [k, v] of Object.entries(e.context || {}))
		if (k !== 'payload')
			others[k] = v;
	ev.append(h('h2', null, '证据 Evidence'));
	if (Object.keys(others).length)
		ev.append(h('h3', null, '上下文 Context'), renderValue(others), h('hr'));
	ev.append(h('h3', null, '数据字段 Fields (可更正 editable)'), payloadForm(p));
}

function renderSteps(ev) {
	const it = S.cur.item;
	if (!it)
		return;
	const steps = it.steps || [];
	ev.append(h('h3', null, '已完成步骤 Steps done'),
	    steps.length ? h('ol', { class: 'steps' }, steps.map((s) =>
		h('li', null, `${s.step} · ${fmtTime(s.finished)}` +
		    (s.ms !== undefined && s.ms !== null ? ` · ${s.ms} ms` : '')))) :
		h('p', { class: 'muted' }, '无 none'));
	if (it.last_error && it.last_error !== S.cur.esc.message)
		ev.append(h('p', { class: 'muted' }, `最近错误 last error: ${it.last_error}`));
}

/* The payload as a form: each top-level field an input (objects and arrays
 * as JSON), for "correct and resume"; only changed fields are sent. */
function payloadForm(p) {
	const fields = h('div', { class: 'fields' });
	const form = h('form', { id: 'resume-form', novalidate: true, onsubmit: submitResume },
	    fields,
	    h('p', { class: 'form-error', id: 'resume-error', role: 'alert', hidden: true }),
	    h('div', { class: 'form-actions' },
		h('button', { type: 'submit', class: 'primary decides', id: 'resume-submit' },
		    '更正并继续 Resume with corrections'),
		h('span', { class: 'muted' }, '只提交修改过的字段 Only changed fields are sent')));

	for (const [k, v] of Object.entries(p)) {
		let input, type;
		if (v !== null && typeof v === 'object') {
			type = 'json';
			input = h('textarea', { rows: Math.min(8, JSON.stringify(v, null, 1).split('\n').length + 1) });
			input.value = JSON.stringify(v, null, 1);
		} else if (typeof v === 'boolean') {
			type = 'boolean';
			input = h('select', null, new Option('true', 'true'), new Option('false', 'false'));
			input.value = String(v);
		} else {
			type = v === null ? 'null' : typeof v;
			input = h('input', { type: 'text', autocomplete: 'off',
			    inputmode: type === 'number' ? 'decimal' : null });
			input.value = v === null ? '' : String(v);
		}
		input.name = k;
		input.dataset.type = type;
		input.dataset.orig = JSON.stringify(v);
		input.classList.add('decides', 'field');
		input.addEventListener('input', () => {
			let same = false;
			try {
				same = JSON.stringify(fieldValue(input)) === input.dataset.orig;
			} catch (e) {
				same = false;
			}
			input.classList.toggle('changed', !same);
		});
		fields.append(h('label', { class: type === 'json' ? 'wide' : null }, label(k), input));
	}
	if (!Object.keys(p).length)
		fields.append(h('p', { class: 'muted' }, '此事项没有数据字段 This item has no fields.'));
	return form;
}

function fieldValue(input) {
	const t = input.dataset.type, v = input.value;
	if (t === 'json')
		return JSON.parse(v);
	if (t === 'boolean')
		return v === 'true';
	if (t === 'number') {
		if (v.trim() === '' || Number.isNaN(Number(v)))
			throw new Error('不是数字 not a number');
		return Number(v);
	}
	if (t === 'null')
		return v === '' ? null : v;
	return v;
}

function submitResume(ev) {
	ev.preventDefault();
	const changes = {};

	formError('resume-error', '');
	for (const input of document.querySelectorAll('#resume-form .field')) {
		let v;
		try {
			v = fieldValue(input);
		} catch (e) {
			formError('resume-error', `${input.name}: ${e.message}`);
			input.focus();
			return;
		}
		if (JSON.stringify(v) !== input.dataset.orig)
			changes[input.name] = v;
	}
	if (!checkIds([...document.querySelectorAll('#resume-form .field')].filter((i) =>
	    /^(id_no|id_number|id)$/.test(i.name) && i.name in changes && typeof changes[i.name] === 'string'),
	    'resume-error'))
		return;
	if (!Object.keys(changes).length) {
		formError('resume-error', '没有修改任何字段；无需修改请用“重试”。Nothing changed: use Retry to run the step again as it is.');
		return;
	}
	decide('resume', { payload: changes });
}

function startEdit() {
	if (!S.cur || S.cur.readonly)
		return refuseReadonly();
	const box = $('edit-box');
	if (box)
		box.open = true;
	const first = document.querySelector('#ocr-form .field') ||
	    document.querySelector('#resume-form .field');
	if (first) {
		first.focus();
		first.scrollIntoView({ block: 'nearest' });
	}
}

function matchWith(c) {
	const fen = typeof c.amount_fen === 'number' ? c.amount_fen : toFen(c.amount);
	decide('approve', { payload: { match_with: { ref: c.ref, amount_fen: fen, date: c.date } } });
}

function showReject() {
	if (!S.cur || S.cur.readonly)
		return refuseReadonly();
	$('reject-form').hidden = false;
	formError('reject-error', '');
	$('reject-reason').focus();
}

function hideReject() {
	$('reject-form').hidden = true;
	$('reject-reason').value = '';
	formError('reject-error', '');
}

function submitReject(ev) {
	ev.preventDefault();
	const reason = $('reject-reason').value.trim();
	if (!reason) {
		formError('reject-error', '请填写驳回原因。A rejection needs a reason the applicant can act on.');
		$('reject-reason').focus();
		return;
	}
	decide('reject', { reason });
}

function refuseReadonly() {
	const c = S.cur;
	if (!c)
		return;
	formError('decide-error', c.decided ? '此事项已决定 Already decided.' :
	    '只读：此事项不由你认领。Read-only: this item is not claimed by you.');
}

/* One key decides: it waits UNDO_MS first, with an undo, so a key pressed
 * by mistake costs nothing. Leaving the escalation commits it at once. */
const UNDO_MS = 5000;

function decideSoon(decision) {
	const c = S.cur;
	if (!c || S.busy || S.pending)
		return;
	if (c.readonly)
		return refuseReadonly();
	const p = { c, decision, at: Date.now() + UNDO_MS };
	S.pending = p;
	setDecideEnabled(false);
	const tick = () => {
		const left = Math.max(0, Math.ceil((p.at - Date.now()) / 1000));
		$('undo-text').textContent = `${VERBS[decision] || decision} #${c.id}：${left} 秒后提交 commits in ${left} s`;
	};
	tick();
	$('undo-bar').hidden = false;
	p.ticker = setInterval(tick, 250);
	p.timer = setTimeout(() => commitPending(), UNDO_MS);
	$('undo-cancel').focus();
}

function endPending() {
	const p = S.pending;
	if (!p)
		return null;
	clearTimeout(p.timer);
	clearInterval(p.ticker);
	S.pending = null;
	$('undo-bar').hidden = true;
	return p;
}

function undoPending() {
	const p = endPending();
	if (!p)
		return;
	if (S.cur === p.c)
		setDecideEnabled(!p.c.readonly);
	toast(`已撤销 Undone: ${DECISIONS[p.decision] || p.decision} #${p.c.id}`);
}

async function commitPending() {
	const p = endPending();
	if (p)
		await decide(p.decision, undefined, p.c);
}

async function decide(decision, extra, which) {
	const c = which || S.cur;
	if (!c || S.busy)
		return;
	if (c.readonly)
		return refuseReadonly();
	S.busy = true;
	setDecideEnabled(false);
	formError('decide-error', '');
	try {
		await api('POST', `/escalations/${c.id}/decide`, withBy(Object.assign({ decision }, extra || {})));
	} catch (e) {
		S.busy = false;
		if (S.cur === c) {
			formError('decide-error', e.message);
			setDecideEnabled(!c.readonly);
		}
		if (e.status !== 401)
			showError(e);
		return;
	}
	S.busy = false;
	c.decided = true;
	c.readonly = true;
	toast(`#${c.id} ${DECISIONS[decision] || decision}`);
	/* The next one down the queue as it was shown, that is still open and
	 * that nobody else holds now; else the first such from the top. */
	const shown = filtered(), at = shown.findIndex((e) => e.id === c.id);
	const after = at < 0 ? [] : shown.slice(at + 1).map((e) => e.id);
	try {
		await loadQueue();
	} catch (e) {
		if (e.status !== 401)
			showError(e, 'queue');
	}
	S.queue = S.queue.filter((e) => e.id !== c.id);
	const now = Date.now(), open = filtered().filter((e) => !heldByOther(e, now));
	const next = open.find((e) => after.includes(e.id)) || open[0];
	/* Only when the reviewer is still on this item. location.hash changes
	 * at once when they open another, the hashchange (and so S.cur) only
	 * a task later: checking S.cur alone sent a reviewer who opened
	 * another item while the queue reloaded to "the next one" instead. */
	if (S.cur === c && detailIdFromHash() === c.id)
		go(next ? `#/e/${next.id}` : '#/');
}

/* ---- keys ------------------------------------------------------------------ */

function onKey(ev) {
	if (ev.ctrlKey || ev.metaKey || ev.altKey)
		return;
	const t = ev.target;
	const typing = t && t.closest && t.closest('input, textarea, select, [contenteditable]');

	if (S.pending && (ev.key === 'u' || ev.key === 'Escape') && !typing) {
		ev.preventDefault();
		undoPending();
		return;
	}
	if (ev.key === 'Escape') {
		if (typing) {
			t.blur();
			if (t.closest('#reject-form'))
				hideReject();
			if (t.closest('#assign-form, #comment-form'))
				hideSideForms();
			ev.preventDefault();
			return;
		}
		if (S.view === 'detail') {
			ev.preventDefault();
			if (!$('reject-form').hidden)
				hideReject();
			else
				go('#/');
		}
		return;
	}
	if (typing || S.view === 'login' || S.busy || S.pending)
		return;
	if (S.view === 'queue') {
		if (ev.key === 'j')
			moveSelection(1);
		else if (ev.key === 'k')
			moveSelection(-1);
		else if (ev.key === 'x' && S.selectedId !== null)
			toggleBulk(S.selectedId, !S.bulk.has(S.selectedId));
		else if (ev.key === '/')
			$('filter-q').focus();
		else if ((ev.key === 'Enter' || ev.key === 'o') && S.selectedId !== null && !t.closest('a, button'))
			go(`#/e/${S.selectedId}`);
		else
			return;
		ev.preventDefault();
		return;
	}
	if (S.view !== 'detail' || !S.cur)
		return;
	switch (ev.key) {
	case 'a':
		decideSoon('approve');
		break;
	case 'r':
		showReject();
		break;
	case 't':
		decideSoon('retry');
		break;
	case 'e':
		startEdit();
		break;
	case 'g':
		showAssign();
		break;
	case 'c':
		showComment();
		break;
	case 'j':
	case 'k': {
		const n = neighbour(S.cur.id, ev.key === 'j' ? 1 : -1, false);
		if (n)
			go(`#/e/${n.id}`);
		else
			toast(ev.key === 'j' ? '已是最后一件 Last in the queue' : '已是第一件 First in the queue');
		break;
	}
	default:
		return;
	}
	ev.preventDefault();
}

/* ---- start ----------------------------------------------------------------- */

async function boot() {
	const token = sessionStorage.getItem('clerk.token');

	if (token) {
		try {
			await useToken(token, sessionStorage.getItem('clerk.name') || '');
		} catch (e) {
			sessionStorage.removeItem('clerk.token');
			showLogin(e.message);
			return;
		}
		route();
		return;
	}
	try {
		const m = await api('GET', '/me', undefined, { noAuthRedirect: true });
		if (m.authenticated === false) {
			showLogin();
			return;
		}
		const csrf = m.csrf || sessionStorage.getItem('clerk.csrf');
		if (csrf) {
			setAuth({ mode: 'session', user: m.user, role: m.role, csrf });
		} else {
			showLogin('请重新登录以刷新会话 Sign in again to refresh the session.');
			return;
		}
	} catch (e) {
		if (e.status !== 401 && e.status !== 404)
			showError(e);
	}
	route();
}

function wire() {
	$('login-form').addEventListener('submit', login);
	$('token-form').addEventListener('submit', tokenLogin);
	$('logout').addEventListener('click', logout);
	$('banner-close').addEventListener('click', () => clearError());
	$('refresh').addEventListener('click', refreshQueue);
	$('pb-refresh').addEventListener('click', loadPlaybooks);
	wireHistory();
	for (const id of ['filter-playbook', 'filter-reason', 'filter-assignee', 'filter-overdue'])
		$(id).addEventListener('change', refreshQueue);
	let searchTimer = null;
	$('filter-q').addEventListener('input', () => {
		clearTimeout(searchTimer);
		searchTimer = setTimeout(refreshQueue, 300);
	});
	$('filter-q').addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter') {
			ev.preventDefault();
			clearTimeout(searchTimer);
			refreshQueue();
		}
	});
	$('bulk-all').addEventListener('change', (ev) => {
		for (const e of S.queue)
			if (ev.target.checked)
				S.bulk.add(e.id);
			else
				S.bulk.delete(e.id);
		S.bulkConfirm = null;
		renderBulk();
	});
	$('bulk-approve').addEventListener('click', () => bulkDecide('approve'));
	$('bulk-retry').addEventListener('click', () => bulkDecide('retry'));
	$('bulk-clear').addEventListener('click', () => { S.bulk.clear(); S.bulkConfirm = null; renderBulk(); });
	$('undo-cancel').addEventListener('click', undoPending);
	$('undo-now').addEventListener('click', commitPending);
	$('act-assign').addEventListener('click', showAssign);
	$('act-comment').addEventListener('click', showComment);
	$('assign-form').addEventListener('submit', submitAssign);
	$('assign-cancel').addEventListener('click', hideSideForms);
	$('comment-form').addEventListener('submit', submitComment);
	$('comment-cancel').addEventListener('click', hideSideForms);
	$('comment-text').addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey))
			$('comment-form').requestSubmit();
	});
	$('filters').addEventListener('submit', (ev) => ev.preventDefault());
	$('back').addEventListener('click', () => go('#/'));
	$('t-form').addEventListener('submit', submitTest);
	$('act-approve').addEventListener('click', () => decide('approve'));
	$('act-retry').addEventListener('click', () => decide('retry'));
	$('act-edit').addEventListener('click', startEdit);
	$('act-reject').addEventListener('click', showReject);
	$('reject-form').addEventListener('submit', submitReject);
	$('reject-cancel').addEventListener('click', hideReject);
	$('reject-reason').addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey))
			$('reject-form').requestSubmit();
	});
	document.addEventListener('keydown', onKey);
	window.addEventListener('hashchange', route);
	/* Closing the tab gives the claim back; keepalive lets it outlive the page. */
	window.addEventListener('pagehide', () => {
		const c = S.cur;
		if (c && c.mine && !c.decided)
			api('POST', `/escalations/${c.id}/release`, withBy({}), { keepalive: true, noAuthRedirect: true })
			    .catch(() => {});
	});
	document.addEventListener('visibilitychange', () => {
		if (!document.hidden && S.view === 'queue')
			refreshQueue();
	});
}

wire();
boot();

})();
