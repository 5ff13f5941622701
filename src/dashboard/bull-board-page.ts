import type { Express, NextFunction, Request, Response } from 'express';

/**
 * bull-board's page as the dashboard serves it: nothing from another origin. Operators run the dashboard on
 * internal networks, often without internet, and a page that loads a third party's file tells it who looks at
 * the dashboard. bull-board 9's page links Google Fonts' stylesheet (IBM Plex) and offers no option to leave it
 * out; its own CSS falls back to system fonts (`system-ui`, `ui-monospace`), so the link is dropped from the HTML
 * it renders, and a Content-Security-Policy keeps anything else it might load to the dashboard's own origin.
 */

/**
 * bull-board's scripts, styles, worker (job data highlighting) and API are all served from the dashboard itself;
 * its page has inline styles (the loading screen) and a JSON `<script>` block, which is data and runs nothing.
 */
export const BULL_BOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** A `<link>` (stylesheet, preconnect, ...) whose `href` is absolute: another origin than the page's. */
const THIRD_PARTY_LINK = /<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?\/\/[^>]*>[ \t]*\r?\n?/gi;

/** The HTML without its `<link>` tags to other origins. */
export function withoutThirdPartyLinks(html: string): string {
  return html.replace(THIRD_PARTY_LINK, '');
}

/**
 * Makes bull-board's Express app send its page without links to other origins: its views go through
 * `app.render`, whose HTML is rewritten before `res.render` sends it.
 */
export function renderWithoutThirdPartyLinks(boardApp: Express): void {
  const render = boardApp.render.bind(boardApp);
  const rewritten = (
    name: string,
    options: object,
    callback: (error: Error | null, html?: string) => void,
  ): void =>
    render(name, options, (error: Error | null, html?: string) =>
      callback(error, typeof html === 'string' ? withoutThirdPartyLinks(html) : html),
    );
  boardApp.render = rewritten as Express['render'];
}

/** Sets bull-board's Content-Security-Policy on every response under its path. */
export function bullBoardSecurityHeaders(_request: Request, response: Response, next: NextFunction): void {
  response.set('Content-Security-Policy', BULL_BOARD_CONTENT_SECURITY_POLICY);
  next();
}
