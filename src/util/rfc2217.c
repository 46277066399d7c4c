#include "util/rfc2217.h"

#include <string.h>

enum { ST_DATA, ST_IAC, ST_VERB, ST_SB, ST_SB_IAC };

size_t tn_escape(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        dst[o++] = src[i];
        if (src[i] == TN_IAC)
            dst[o++] = TN_IAC;
    }
    return o;
}

size_t tn_subneg(uint8_t *dst, uint8_t cmd, const uint8_t *value, size_t vlen)
{
    size_t o = 0;
    dst[o++] = TN_IAC;
    dst[o++] = TN_SB;
    dst[o++] = TN_OPT_COM_PORT;
    dst[o++] = cmd;
    o += tn_escape(dst + o, value, vlen);
    dst[o++] = TN_IAC;
    dst[o++] = TN_SE;
    return o;
}

size_t tn_verb(uint8_t *dst, uint8_t verb, uint8_t opt)
{
    dst[0] = TN_IAC;
    dst[1] = verb;
    dst[2] = opt;
    return 3;
}

void tn_decoder_init(tn_decoder *d, void *ctx)
{
    memset(d, 0, sizeof *d);
    d->state = ST_DATA;
    d->ctx = ctx;
}

static void finish_subneg(tn_decoder *d)
{
    /* sb_buf: option, then for COM-PORT: cmd, value... */
    if (d->sb_len >= 2 && d->sb_buf[0] == TN_OPT_COM_PORT && d->on_comport)
        d->on_comport(d->ctx, d->sb_buf[1], d->sb_buf + 2, d->sb_len - 2);
}

static void sb_push(tn_decoder *d, uint8_t b)
{
    if (d->sb_len < sizeof d->sb_buf)
        d->sb_buf[d->sb_len++] = b;
}

/* Data bytes are gathered and handed out in as few on_data calls as
 * possible (escaped 0xFF bytes do not split a burst); control events flush
 * the data before them so order is kept. */
typedef struct tn_out {
    tn_decoder *d;
    uint8_t buf[4096];
    size_t len;
} tn_out;

static void out_flush(tn_out *o)
{
    if (o->len && o->d->on_data)
        o->d->on_data(o->d->ctx, o->buf, o->len);
    o->len = 0;
}

static void out_byte(tn_out *o, uint8_t b)
{
    if (o->len == sizeof o->buf)
        out_flush(o);
    o->buf[o->len++] = b;
}

void tn_decode(tn_decoder *d, const uint8_t *in, size_t len)
{
    tn_out o = {.d = d, .len = 0};
    for (size_t i = 0; i < len; i++) {
        uint8_t b = in[i];
        switch (d->state) {
        case ST_DATA:
            if (b == TN_IAC)
                d->state = ST_IAC;
            else
                out_byte(&o, b);
            break;
        case ST_IAC:
            if (b == TN_IAC) {
                out_byte(&o, b);
                d->state = ST_DATA;
            } else if (b == TN_SB) {
                d->sb_len = 0;
                d->state = ST_SB;
            } else if (b >= TN_WILL && b <= TN_DONT) {
                d->verb = b; /* kept in the decoder: the option may come in the next call */
                d->state = ST_VERB;
            } else {
                d->state = ST_DATA; /* NOP, GA, ...: ignored */
            }
            break;
        case ST_VERB:
            out_flush(&o);
            if (d->on_verb)
                d->on_verb(d->ctx, d->verb, b);
            d->state = ST_DATA;
            break;
        case ST_SB:
            if (b == TN_IAC)
                d->state = ST_SB_IAC;
            else
                sb_push(d, b);
            break;
        case ST_SB_IAC:
            if (b == TN_SE) {
                out_flush(&o);
                finish_subneg(d);
                d->state = ST_DATA;
            } else {
                sb_push(d, b); /* IAC IAC inside SB = 0xFF */
                d->state = ST_SB;
            }
            break;
        }
    }
    out_flush(&o);
}

uint32_t tn_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void tn_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
