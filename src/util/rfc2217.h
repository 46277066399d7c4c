/* rfc2217.h — Telnet + RFC 2217 (COM-PORT-OPTION) encoding, both directions.
 *
 * Used by the rfc2217:// client link and by the simulator's server.  Pure
 * byte-level codec: no sockets here.  Data bytes 0xFF travel doubled
 * (IAC IAC); control travels as IAC SB 44 <cmd> <value> IAC SE.  A server
 * answers a client command with cmd + 100. */
#ifndef FL_UTIL_RFC2217_H
#define FL_UTIL_RFC2217_H

#include <stddef.h>
#include <stdint.h>

enum {
    TN_SE = 240, TN_NOP = 241, TN_SB = 250, TN_WILL = 251, TN_WONT = 252,
    TN_DO = 253, TN_DONT = 254, TN_IAC = 255,
    TN_OPT_BINARY = 0, TN_OPT_ECHO = 1, TN_OPT_SGA = 3, TN_OPT_COM_PORT = 44,
};

enum {
    CPO_SET_BAUDRATE = 1, CPO_SET_DATASIZE = 2, CPO_SET_PARITY = 3,
    CPO_SET_STOPSIZE = 4, CPO_SET_CONTROL = 5, CPO_NOTIFY_LINESTATE = 6,
    CPO_NOTIFY_MODEMSTATE = 7, CPO_FLOWCONTROL_SUSPEND = 8,
    CPO_FLOWCONTROL_RESUME = 9, CPO_SET_LINESTATE_MASK = 10,
    CPO_SET_MODEMSTATE_MASK = 11, CPO_PURGE_DATA = 12,
    CPO_SERVER_OFFSET = 100,
};

/* SET-CONTROL values (RFC 2217 §3). */
enum {
    CPO_CTL_DTR_ON = 8, CPO_CTL_DTR_OFF = 9, CPO_CTL_RTS_ON = 11, CPO_CTL_RTS_OFF = 12,
};

/* Appends to a caller buffer; returns bytes written (dst must hold 2*len). */
size_t tn_escape(uint8_t *dst, const uint8_t *src, size_t len);

/* IAC SB 44 cmd value... IAC SE into dst (needs 6 + 2*vlen bytes). */
size_t tn_subneg(uint8_t *dst, uint8_t cmd, const uint8_t *value, size_t vlen);

/* IAC <verb> <opt>. */
size_t tn_verb(uint8_t *dst, uint8_t verb, uint8_t opt);

/* Streaming decoder.  Feed bytes; data bytes come out through on_data,
 * negotiation through on_verb, completed COM-PORT subnegotiations through
 * on_comport (cmd as received, value un-escaped). */
typedef struct tn_decoder {
    int state;
    uint8_t verb;
    uint8_t sb_buf[64];
    size_t sb_len;
    void *ctx;
    void (*on_data)(void *ctx, const uint8_t *data, size_t len);
    void (*on_verb)(void *ctx, uint8_t verb, uint8_t opt);
    void (*on_comport)(void *ctx, uint8_t cmd, const uint8_t *value, size_t vlen);
} tn_decoder;

void tn_decoder_init(tn_decoder *d, void *ctx);
void tn_decode(tn_decoder *d, const uint8_t *in, size_t len);

uint32_t tn_be32(const uint8_t *p);
void tn_put_be32(uint8_t *p, uint32_t v);

#endif
