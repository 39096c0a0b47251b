/* web_assets.h — the files the jobcentre caseworker's pages need, embedded
 * in the binary at build time (cmake/embed.cmake over sync-server/web/):
 * nothing to deploy beside mentorlog-server. */
#ifndef MLS_WEB_ASSETS_H
#define MLS_WEB_ASSETS_H

#include <stddef.h>

/* /jobcentre/style.css: its bytes (NUL-terminated, the NUL not counted),
 * length, and ETag ("\"<32 hex digits of its SHA-256>\"", quotes included). */
extern const unsigned char mls_web_style_css[];
extern const size_t mls_web_style_css_len;
extern const char mls_web_style_css_etag[];
/* /jobcentre/icon.svg, the same way. */
extern const unsigned char mls_web_icon_svg[];
extern const size_t mls_web_icon_svg_len;
extern const char mls_web_icon_svg_etag[];

#endif
