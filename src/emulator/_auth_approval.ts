// The approval step of the emulated Globus Auth's authorize page. The emulator signs in
// as its first configured user, so whoever can open the page could log in as that user:
// the page approves only with a secret made per run and printed on the emulator's own
// terminal (never in the env file), the way a real login needs the user's password.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { escapeHtml, html } from "./_respond.ts";

/** A new approval secret: 96 random bits, as six groups of four hex digits. */
export function newApprovalSecret(): string {
  return randomBytes(12).toString("hex").match(/.{4}/g)!.join("-");
}

/** Whether `given` is the approval secret (blanks and case forgiven, compared in constant time). */
export function isApprovalSecret(secret: string, given: string): boolean {
  const normal = given.trim().toLowerCase();
  const left = new TextEncoder().encode(secret);
  const right = new TextEncoder().encode(normal);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The page that asks for the approval secret; it posts back to the same URL. */
export function approvalPage(
  request: { clientId: string; username: string; scopes: string[] },
  refusal?: string,
): Response {
  const scopes = request.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join("");
  const answer = html(
    refusal ? 403 : 200,
    "Globus Auth (emulator): approve this login",
    `${
      refusal ? `<p id="refusal"><strong>${escapeHtml(refusal)}</strong></p>\n` : ""
    }<p>Client <code>${escapeHtml(request.clientId)}</code> asks to act as <strong>${
      escapeHtml(request.username)
    }</strong> with:</p>
<ul>${scopes}</ul>
<form method="post">
<p><label>Approval secret (the emulator printed it on its terminal when it started):
<input name="approval_secret" type="password" autocomplete="off" required></label></p>
<p><button type="submit">Approve</button></p>
</form>`,
  );
  // Not to be framed by another page, nor kept by a cache.
  answer.headers.set("X-Frame-Options", "DENY");
  answer.headers.set("Cache-Control", "no-store");
  return answer;
}
