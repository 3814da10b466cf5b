// The chat page (webui/dist/index.html), embedded at build time by
// webui/embed.cmake's qs_embed_webui(). Serve it at GET / as text/html.
#pragma once

namespace qs::webui {

// [kIndexHtmlSize] bytes of UTF-8 HTML, followed by one '\0' (not counted).
extern const char kIndexHtml[];
extern const unsigned long kIndexHtmlSize;

}  // namespace qs::webui
