// Browser tests of clerkd's reviewer UI (daemon/web): playwright-core
// driving Debian's /usr/bin/chromium headless, at laptop width.
//
// Run by tests/integration/test_ui.py, which starts clerkd with four open
// escalations and passes:
//   CLERK_URL          the daemon, http://127.0.0.1:PORT
//   CLERK_TOKEN        the API token (for the test's own API calls, and the
//                      UI's sign-in while clerkd has no users)
//   CLERK_USER/CLERK_PASSWORD, CLERK_USER2/CLERK_PASSWORD2
//                      two reviewers, when clerkd has a users file
//   CLERK_ESCALATIONS  the open escalations, JSON
//   CHROMIUM, CLERK_SHOTS (where screenshots go, default /tmp)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.CLERK_URL;
const TOKEN = process.env.CLERK_TOKEN;
const USER = process.env.CLERK_USER || null;
const PASS = process.env.CLERK_PASSWORD;
const USER2 = process.env.CLERK_USER2 || null;
const PASS2 = process.env.CLERK_PASSWORD2;
const SHOTS = process.env.CLERK_SHOTS || '/tmp';
const ME = USER || 'alice';
const OTHER = USER2 || 'someone-else';
const ESCS = JSON.parse(process.env.CLERK_ESCALATIONS || '[]');

const byCase = (c) => ESCS.find((e) => e.message.includes(c));
const A = byCase('A-001'), B = byCase('B-002'), C = byCase('C-003');
const R = ESCS.find((e) => e.playbook === 'fund-reconcile-difference');

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
	'--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

let browser, ctx, page, ctx2, profile;
const problems = [];

async function api(method, path, body) {
	const r = await fetch(`${BASE}/api/v1${path}`, {
		method,
		headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await r.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch {
		json = text;
	}
	return { status: r.status, body: json };
}

async function esc(id) {
	const r = await api('GET', `/escalations/${id}`);
	assert.equal(r.status, 200, JSON.stringify(r.body));
	return r.body;
}

async function until(what, fn, ms = 8000) {
	const end = Date.now() + ms;
	let last;
	while (Date.now() < end) {
		last = await fn();
		if (last)
			return last;
		await new Promise((res) => setTimeout(res, 100));
	}
	throw new Error(`timed out waiting for ${what}`);
}

function watch(p) {
	p.on('console', (m) => {
		if (/Content Security Policy|Refused to (execute|apply|load)/i.test(m.text()))
			problems.push(`console: ${m.text()}`);
	});
	p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}

async function signIn(p, user, pass, name) {
	await p.goto(`${BASE}/`);
	await p.waitForSelector('#view-login:not([hidden])');
	if (user) {
		await p.fill('#login-user', user);
		await p.fill('#login-password', pass);
		await p.click('#login-submit');
	} else {
		await p.evaluate(() => { document.getElementById('token-box').open = true; });
		await p.fill('#token-value', TOKEN);
		await p.fill('#token-name', name);
		await p.click('#token-submit');
	}
	await p.waitForSelector('#view-queue:not([hidden])');
}

async function queueRows(p) {
	return p.$$eval('#queue-body tr', (trs) => trs.map((tr) => ({
		id: Number(tr.dataset.id),
		overdue: !!tr.querySelector('.badge.overdue'),
		text: tr.textContent,
	})));
}

async function hashIs(p, h) {
	await p.waitForFunction((want) => location.hash === want, h);
}

before(async () => {
	assert.ok(BASE && TOKEN, 'CLERK_URL and CLERK_TOKEN are set');
	assert.ok(A && B && C && R, 'the four escalations are given');
	profile = mkdtempSync(join(tmpdir(), 'clerk-ui-profile-'));
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ARGS,
	});
	ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN' });
	page = await ctx.newPage();
	page.setDefaultTimeout(10000);
	watch(page);
});

after(async () => {
	if (browser)
		await browser.close();
	if (profile)
		rmSync(profile, { recursive: true, force: true });
});

test('a refused sign-in shows the API error message', async () => {
	await page.goto(`${BASE}/`);
	await page.waitForSelector('#view-login:not([hidden])');
	if (USER) {
		await page.fill('#login-user', USER);
		await page.fill('#login-password', 'wrong password');
		await page.click('#login-submit');
		await page.waitForSelector('#login-error:not([hidden])');
		assert.ok((await page.textContent('#login-error')).trim().length > 0);
	} else {
		await page.evaluate(() => { document.getElementById('token-box').open = true; });
		await page.fill('#token-value', 'not-the-token');
		await page.click('#token-submit');
		await page.waitForSelector('#token-error:not([hidden])');
		const msg = await page.textContent('#token-error');
		assert.match(msg, /token/i, msg);
	}
	assert.ok(await page.isVisible('#view-login'), 'still on the sign-in page');
});

test('sign in', async () => {
	await signIn(page, USER, PASS, ME);
	assert.equal((await page.textContent('#who-name')).trim(), ME);
	// a reload keeps the sign-in (the session's CSRF token comes back from /me)
	await page.reload();
	await page.waitForSelector('#view-queue:not([hidden])');
	assert.equal((await page.textContent('#who-name')).trim(), ME);
});

test('the queue lists the open escalations by due time, the overdue ones marked', async () => {
	await page.waitForSelector(`#queue-body tr[data-id="${R.id}"]`);
	const rows = await queueRows(page);
	assert.deepEqual(rows.map((r) => r.id), [A.id, B.id, C.id, R.id]);
	assert.deepEqual(rows.map((r) => r.overdue), [true, true, false, false]);
	assert.equal(await page.textContent('#count-total'), '4');
	assert.equal(await page.textContent('#count-overdue'), '2');
	await page.screenshot({ path: `${SHOTS}/clerk-ui-queue.png`, fullPage: true });
	assert.ok(statSync(`${SHOTS}/clerk-ui-queue.png`).size > 10000, 'a screenshot of the queue');
});

test('the queue filters by playbook and by reason', async () => {
	await page.selectOption('#filter-playbook', 'fund-reconcile-difference');
	assert.deepEqual((await queueRows(page)).map((r) => r.id), [R.id]);
	await page.selectOption('#filter-playbook', '');
	await page.selectOption('#filter-reason', 'id_mismatch');
	assert.deepEqual((await queueRows(page)).map((r) => r.id), [C.id]);
	assert.match(await page.textContent('#count-shown'), /1/);
	await page.selectOption('#filter-reason', '');
	assert.equal((await queueRows(page)).length, 4);
});

test('Chinese text renders with a CJK font', async () => {
	const text = await page.evaluate(() => document.body.innerText);
	for (const s of ['待复核', '逾期', '案件 A-001 需要复核：张三', '身份证号与姓名不符 C-003',
		'银行已收企业未收'])
		assert.ok(text.includes(s), `the page shows ${s}`);
	// which fonts Chromium really drew the heading and a message with
	const cdp = await ctx.newCDPSession(page);
	await cdp.send('DOM.enable');
	await cdp.send('CSS.enable');
	const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
	const families = [];
	for (const sel of ['#view-queue h1', `#queue-body tr[data-id="${A.id}"] td.msg`]) {
		const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: sel });
		const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
		families.push(...fonts.map((f) => f.familyName));
	}
	await cdp.detach();
	assert.ok(families.some((f) => /CJK|Noto Sans SC|Source Han|WenQuanYi|Droid Sans Fallback/i.test(f)),
	    `a CJK font among ${families.join(', ')}`);
});

test('j/k move in the queue; opening an escalation claims it; Esc leaves and releases it', async () => {
	await page.evaluate(() => document.activeElement && document.activeElement.blur());
	for (let i = 0; i < 4; i++)
		await page.keyboard.press('k');
	assert.equal(await page.getAttribute('#queue-body tr.selected', 'data-id'), String(A.id));
	await page.keyboard.press('j');
	assert.equal(await page.getAttribute('#queue-body tr.selected', 'data-id'), String(B.id));
	await page.keyboard.press('k');
	assert.equal(await page.getAttribute('#queue-body tr.selected', 'data-id'), String(A.id));
	await page.keyboard.press('Enter');
	await hashIs(page, `#/e/${A.id}`);
	await page.waitForSelector('#d-claim.mine:not([hidden])');
	const e = await esc(A.id);
	assert.equal(e.claimed_by, ME);
	assert.ok(e.claim_expires > Date.now() + 10 * 60000, 'claimed for about 15 minutes');
	assert.match(await page.textContent('#d-message'), /案件 A-001 需要复核/);
	assert.equal(await page.textContent('#d-reason'), 'needs_review');
	// laptop width: nothing sticks out sideways, the decision panel is in view
	const width = await page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(width <= 1366, `no horizontal scroll (${width})`);
	const box = await page.locator('#d-decide').boundingBox();
	assert.ok(box && box.x + box.width <= 1366 && box.y < 768, JSON.stringify(box));
	await page.screenshot({ path: `${SHOTS}/clerk-ui-detail.png`, fullPage: true });

	await page.keyboard.press('Escape');
	await page.waitForSelector('#view-queue:not([hidden])');
	await until('the claim to be released', async () => !(await esc(A.id)).claimed_by);
});

test('an escalation someone else holds is read-only, naming who and until when', async () => {
	let page2 = null;
	if (USER2) {
		ctx2 = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN' });
		page2 = await ctx2.newPage();
		page2.setDefaultTimeout(10000);
		watch(page2);
		await signIn(page2, USER2, PASS2, OTHER);
		await page2.evaluate((id) => { location.hash = `#/e/${id}`; }, B.id);
		await page2.waitForSelector('#d-claim.mine:not([hidden])');
	} else {
		const r = await api('POST', `/escalations/${B.id}/claim`, { by: OTHER, minutes: 15 });
		assert.equal(r.status, 200, JSON.stringify(r.body));
	}
	assert.equal((await esc(B.id)).claimed_by, OTHER);

	await page.evaluate((id) => { location.hash = `#/e/${id}`; }, B.id);
	await page.waitForSelector('#d-claim:not([hidden]):not(.mine)');
	const note = await page.textContent('#d-claim');
	assert.ok(note.includes(OTHER), note);
	assert.match(note, /只读|read-only/);
	assert.match(note, /\d{4}-\d\d-\d\d \d\d:\d\d/, 'until when');
	assert.ok(await page.isDisabled('#act-approve'));
	assert.ok(await page.isDisabled('#act-reject'));
	await page.keyboard.press('a');
	await page.waitForSelector('#decide-error:not([hidden])');
	const e = await esc(B.id);
	assert.equal(e.state, 'open');
	assert.equal(e.claimed_by, OTHER, 'the holder keeps it');
	await page.keyboard.press('Escape');
	await page.waitForSelector('#view-queue:not([hidden])');
	assert.equal((await esc(B.id)).claimed_by, OTHER, 'leaving does not release someone else\'s claim');
});

test('reject without a reason is refused in the form', async () => {
	await page.click(`#queue-body tr[data-id="${A.id}"]`);
	await page.waitForSelector('#d-claim.mine:not([hidden])');
	await page.keyboard.press('r');
	await page.waitForSelector('#reject-form:not([hidden])');
	assert.equal(await page.evaluate(() => document.activeElement.id), 'reject-reason');
	await page.fill('#reject-reason', '   ');
	await page.click('#reject-submit');
	await page.waitForSelector('#reject-error:not([hidden])');
	assert.match(await page.textContent('#reject-error'), /原因|reason/);
	await new Promise((res) => setTimeout(res, 300));
	const e = await esc(A.id);
	assert.equal(e.state, 'open');
	assert.equal(e.decision, null);
	assert.equal(await page.evaluate(() => location.hash), `#/e/${A.id}`);
	await page.keyboard.press('Escape');   // out of the reason box
	assert.ok(await page.isHidden('#reject-form'));
});

test('approve with the a key; the next item (not the one someone else holds) opens', async () => {
	await page.keyboard.press('a');
	await hashIs(page, `#/e/${C.id}`);
	await page.waitForSelector('#d-claim.mine:not([hidden])');
	const e = await until('the decision', async () => {
		const x = await esc(A.id);
		return x.state !== 'open' && x;
	});
	assert.equal(e.decision, 'approve');
	assert.equal(e.decided_by, ME);
	await until('the approved item to go on and finish', async () => {
		const r = await api('GET', `/items/${A.item}`);
		return r.body.state === 'done';
	});
	assert.equal((await esc(C.id)).claimed_by, ME, 'the next one is claimed');
});

test('correct a field and resume with the e key', async () => {
	await page.keyboard.press('e');
	assert.equal(await page.evaluate(() => document.activeElement.closest('#resume-form') !== null), true);
	await page.fill('#resume-form [name="name"]', '王小五');
	await page.press('#resume-form [name="name"]', 'Enter');
	await hashIs(page, `#/e/${R.id}`);
	const e = await until('the decision', async () => {
		const x = await esc(C.id);
		return x.state !== 'open' && x;
	});
	assert.equal(e.decision, 'resume');
	const item = (await api('GET', `/items/${C.item}`)).body;
	assert.equal(item.payload.name, '王小五');
	assert.equal(item.payload.case, 'C-003', 'only the changed field is sent');
});

test('a reconciliation difference: the line and its candidates side by side, "match with this"', async () => {
	await page.waitForSelector('#d-claim.mine:not([hidden])');
	await page.waitForSelector('.cand[data-ref="LG-0402"] button.match');
	assert.equal(await page.locator('.cand').count(), 2);
	const line = await page.locator('.recon .line').boundingBox();
	const cand = await page.locator('.cand').first().boundingBox();
	assert.ok(cand.x > line.x + line.width - 1, 'side by side');
	const text = await page.evaluate(() => document.getElementById('d-evidence').innerText);
	for (const s of ['1234.50', 'BK20240305001', '某某社保代理公司', 'LG-0401', 'LG-0402', '银行已收、企业未收'])
		assert.ok(text.includes(s), `the evidence shows ${s}`);
	await page.screenshot({ path: `${SHOTS}/clerk-ui-recon.png`, fullPage: true });

	await page.click('.cand[data-ref="LG-0402"] button.match');
	// Nothing is left after it but the one someone else holds and C's item,
	// which the resume sent through its escalate step again: that one next.
	const again = await until('the resumed item back in the queue', async () => {
		const r = await api('GET', '/escalations?open=1');
		return r.body.escalations.find((x) => x.item === C.item);
	});
	await hashIs(page, `#/e/${again.id}`);
	await page.waitForSelector('#d-claim.mine:not([hidden])');
	const e = await until('the decision', async () => {
		const x = await esc(R.id);
		return x.state !== 'open' && x;
	});
	assert.equal(e.decision, 'approve');
	const item = (await api('GET', `/items/${R.item}`)).body;
	assert.deepEqual(item.payload.match_with, { ref: 'LG-0402', amount_fen: 123450, date: '2024-03-06' });
});

test('API errors reach the user', async () => {
	await page.evaluate(() => { location.hash = '#/e/999999'; });
	await page.waitForSelector('#banner:not([hidden])');
	assert.match(await page.textContent('#banner-text'), /999999/);
	await page.click('#banner-close');
	await page.keyboard.press('Escape');
	await page.waitForSelector('#view-queue:not([hidden])');
});

test('the queue refreshes itself within about 10 s', async () => {
	await page.waitForSelector('#view-queue:not([hidden])');
	await page.waitForSelector(`#queue-body tr[data-id="${B.id}"]`);
	const n = (await queueRows(page)).length;
	const r = await api('POST', '/playbooks/later-review/run', { key: 'D', payload: { case: 'D-004', name: '赵六' } });
	assert.equal(r.status, 201, JSON.stringify(r.body));
	await page.waitForFunction((want) => document.querySelectorAll('#queue-body tr').length === want,
	    n + 1, { timeout: 15000 });
	assert.match(await page.textContent('#queue-body'), /D-004/);
});

test('log out', async () => {
	await page.click('#logout');
	await page.waitForSelector('#view-login:not([hidden])');
	await page.reload();
	await page.waitForSelector('#view-login:not([hidden])');
	assert.ok(await page.isHidden('#who'));
});

test('no CSP violations and no script errors', async () => {
	assert.deepEqual(problems, []);
});
