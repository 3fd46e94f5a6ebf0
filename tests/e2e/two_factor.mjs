// Two-factor login in a real headless Chromium (run by tests/two_factor_e2e.rs).
// Env: DASHBOARD_URL, CHROMIUM_PATH, SCREENSHOT_DIR.
// Signs up, turns on TOTP from Account security (reading the secret off the page and
// computing codes with a small RFC 6238 implementation over node's crypto), sees the
// recovery codes, logs out, logs in with password then code, screenshots the security page
// and the code step at desktop and phone widths, and exits non-zero on any failed step, CSP
// violation, console error, uncaught page error or 4xx/5xx response.
import { chromium } from "playwright-core";
import crypto from "node:crypto";
import path from "node:path";

const base = process.env.DASHBOARD_URL;
const shots = process.env.SCREENSHOT_DIR ?? "target/screenshots";
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!base) throw new Error("DASHBOARD_URL is required");

/// RFC 4648 base32 (no padding needed).
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    const index = alphabet.indexOf(c);
    if (index < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/// RFC 6238 TOTP (HMAC-SHA1, 30 s steps) at `seconds` since the epoch.
function totp(key, seconds, digits = 6) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = crypto.createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(code).padStart(digits, "0");
}

// RFC 6238 appendix B (SHA-1, T = 59 s): 94287082.
if (totp(Buffer.from("12345678901234567890"), 59, 8) !== "94287082") {
  throw new Error("the TOTP implementation does not match RFC 6238's test vector");
}

const problems = [];
const step = (name) => console.log(`· ${name}`);
function watch(page, label) {
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`${label}: console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`${label}: page error: ${err.message}`));
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`${label}: ${res.status()} from ${res.url()}`);
  });
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await desktop.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
  });
});
const page = await desktop.newPage();
watch(page, "desktop");
const email = "owner@2fa.example";
const password = "correct horse battery staple";

let exitCode = 0;
try {
  step("sign up");
  await page.goto(`${base}/signup`);
  await page.getByLabel("Organisation name").fill("Two Factor Labs");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create organisation" }).click();
  await page.waitForURL(`${base}/app`);

  step("open Account security from the header");
  await page.getByRole("link", { name: email }).click();
  await page.waitForURL(`${base}/app/account/security`);
  await page.locator("#tf-status").filter({ hasText: "off" }).waitFor();

  step("start enrolment: the secret is shown once");
  await page.getByRole("button", { name: "Set up two-factor login" }).click();
  const secret = (await page.locator("#totp-secret").textContent()).trim();
  const uri = await page.locator("#totp-uri").getAttribute("href");
  if (!uri.startsWith("otpauth://totp/") || !uri.includes(`secret=${secret}`)) {
    throw new Error(`unexpected otpauth URI ${uri}`);
  }
  const key = base32Decode(secret);
  const qr = page.getByRole("img", { name: /QR code/ });
  await qr.waitFor({ state: "visible" });
  const qrBox = await qr.boundingBox();
  if (!qrBox || qrBox.width < 150) throw new Error(`the QR code is too small: ${JSON.stringify(qrBox)}`);
  await page.screenshot({ path: path.join(shots, "security-enrol-desktop.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(shots, "security-enrol-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  step("confirm with a code computed here");
  await page.getByLabel("Code from the app").fill(totp(key, Date.now() / 1000));
  await page.getByRole("button", { name: "Turn on two-factor login" }).click();
  await page.locator("#recovery-codes li").first().waitFor();
  const codes = await page.locator("#recovery-codes li").count();
  if (codes !== 10) throw new Error(`expected 10 recovery codes, saw ${codes}`);
  await page.locator("#tf-status").filter({ hasText: "on" }).waitFor();
  await page.screenshot({ path: path.join(shots, "security-desktop.png"), fullPage: true });

  step("log out");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(`${base}/login`);

  step("log in: password, then the code");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${base}/login/two-factor`);
  await page.screenshot({ path: path.join(shots, "login-two-factor-desktop.png"), fullPage: true });
  // The confirmation spent this step's code; the next step's is within the accepted skew.
  await page.getByLabel("Code from your authenticator app").fill(totp(key, Date.now() / 1000 + 30));
  await page.getByRole("button", { name: "Verify" }).click();
  await page.waitForURL(`${base}/app`);

  step("the session works and two-factor login is on");
  await page.goto(`${base}/app/account/security`);
  await page.locator("#tf-status").filter({ hasText: "on" }).waitFor();

  step("phone widths");
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    storageState: await desktop.storageState(),
  });
  const mobile = await phone.newPage();
  watch(mobile, "phone");
  await mobile.goto(`${base}/app/account/security`);
  const overflow = await mobile.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 1) problems.push(`phone: security page overflows by ${overflow}px`);
  await mobile.screenshot({ path: path.join(shots, "security-phone.png"), fullPage: true });
} catch (err) {
  console.error(`FAILED: ${err.stack ?? err}`);
  await page.screenshot({ path: path.join(shots, "two-factor-failure.png"), fullPage: true })
    .catch(() => {});
  exitCode = 1;
}
if (problems.length > 0) {
  console.error(`${problems.length} browser problem(s):\n${problems.join("\n")}`);
  exitCode = 1;
}
await browser.close();
console.log(exitCode === 0 ? "two-factor browser test passed" : "two-factor browser test failed");
process.exit(exitCode);
