// Assistant markdown to safe HTML in the page, for answers while they stream.
//
// The same renderer as the server's (cip/chat/markdown.py): markdown-it, of which the
// server's markdown-it-py is a port, set up identically: CommonMark with GFM tables,
// strikethrough and autolinks; raw HTML off (tags come out as escaped text); images off; a
// link kept only when it is http(s) or mailto, with the same `rel`. Both turn the same text
// into the same HTML (tests/test_markdown_parity.py), so the server's HTML replaces this
// rendering at `done` without a visible change. A table column's alignment comes out as a
// class (`align-right`), not as the `style` attribute the page's CSP would refuse. markdown-it's browser bundle is served from
// static/vendor/ (`make vendor`); it is a UMD script that, loaded as a module, sets
// `globalThis.markdownit`.

import '../vendor/markdown-it/markdown-it.min.js';

const SAFE_LINK = /^(?:https?|mailto):/i;
const LINK_REL = 'nofollow noopener noreferrer';
const GFM_RULES = ['table', 'strikethrough', 'linkify'];

const renderer = globalThis.markdownit('commonmark', { html: false, linkify: true });
renderer.enable(GFM_RULES);
renderer.disable('image');
renderer.validateLink = (url) => SAFE_LINK.test(url);
renderer.renderer.rules.link_open = (tokens, index, options, env, self) => {
  tokens[index].attrSet('rel', LINK_REL);
  return self.renderToken(tokens, index, options);
};

function cellOpen(tokens, index, options, env, self) {
  const token = tokens[index];
  const style = token.attrIndex('style');
  if (style >= 0) {
    const [[, value]] = token.attrs.splice(style, 1);
    token.attrSet('class', `align-${value.replace(/^text-align:/, '')}`);
  }
  return self.renderToken(tokens, index, options);
}
renderer.renderer.rules.th_open = cellOpen;
renderer.renderer.rules.td_open = cellOpen;

/** Safe HTML of `text`, as the server renders it. */
export function markdownHtml(text) {
  return renderer.render(text);
}
