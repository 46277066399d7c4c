/* test_usb_libusb.c — the libusb transport without hardware: selectors,
 * bus-port paths, the libusb-error-to-message table, and what opening and
 * listing do on a machine with no CH341A plugged in (this one). */
#include <libusb.h>
#include <time.h>

#include "link/usb.h"
#include "link/usb_libusb.h"
#include "testlib.h"

static bool has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }
static bool one_line(const char *msg) { return *msg && !strchr(msg, '\n'); }

static void test_selector_forms(void)
{
    fl_usb_selector s;
    fl_error err = {0};
    CHECK(fl_usb_selector_parse("", &s, &err) == FL_OK && s.by == FL_USB_SELECT_ONLY, "empty");
    CHECK(fl_usb_selector_parse(NULL, &s, &err) == FL_OK && s.by == FL_USB_SELECT_ONLY, "NULL");

    CHECK(fl_usb_selector_parse("1-4", &s, &err) == FL_OK, "%s", err.msg);
    CHECK(s.by == FL_USB_SELECT_PATH && s.bus == 1 && s.nports == 1 && s.ports[0] == 4, "1-4");

    CHECK(fl_usb_selector_parse("3-4.2", &s, &err) == FL_OK, "%s", err.msg);
    CHECK(s.bus == 3 && s.nports == 2 && s.ports[0] == 4 && s.ports[1] == 2, "3-4.2");

    CHECK(fl_usb_selector_parse("255-1.2.3.4.5.6.255", &s, &err) == FL_OK, "%s", err.msg);
    CHECK(s.bus == 255 && s.nports == 7 && s.ports[6] == 255, "seven ports, largest numbers");

    CHECK(fl_usb_selector_parse("serial=A1B2", &s, &err) == FL_OK, "%s", err.msg);
    CHECK(s.by == FL_USB_SELECT_SERIAL, "serial form");
    CHECK_STR(s.serial, "A1B2");
}

static void test_selector_malformed(void)
{
    static const char *bad[] = {
        "1",       "1-",       "-4",     "1-4.",   "1-4..2", "a-b",   "0-1",     "1-0",
        "256-1",   "1-256",    "01-4",   "1-04",   "1-4 ",   " 1-4",  "1-4-2",   "bus1",
        "1-1.2.3.4.5.6.7.8",   "serial=", "SERIAL=x", "sim2",  "1-+4",  "1--4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fl_usb_selector s;
        fl_error err = {0};
        fl_status st = fl_usb_selector_parse(bad[i], &s, &err);
        CHECK(st == FL_ERR_USAGE, "'%s' gave %d", bad[i], st);
        CHECK(has(err.msg, bad[i]) && has(err.msg, "ch341a:BUS-PORT") &&
                  has(err.msg, "ch341a:serial=TEXT") && one_line(err.msg),
              "'%s': %s", bad[i], err.msg);
    }
    char longserial[80];
    memset(longserial, 'x', sizeof longserial);
    memcpy(longserial, "serial=", 7);
    longserial[sizeof longserial - 1] = '\0';
    fl_usb_selector s;
    fl_error err = {0};
    CHECK(fl_usb_selector_parse(longserial, &s, &err) == FL_ERR_USAGE, "serial too long");
}

static void test_path_format(void)
{
    char buf[32];
    fl_usb_path_format(1, (const uint8_t[]){4, 2}, 2, buf, sizeof buf);
    CHECK_STR(buf, "1-4.2");
    fl_usb_path_format(12, (const uint8_t[]){7}, 1, buf, sizeof buf);
    CHECK_STR(buf, "12-7");
    /* what `ports` prints, a selector reads back */
    fl_usb_selector s;
    fl_error err = {0};
    fl_usb_path_format(2, (const uint8_t[]){1, 3, 10}, 3, buf, sizeof buf);
    CHECK(fl_usb_selector_parse(buf, &s, &err) == FL_OK && s.bus == 2 && s.nports == 3 &&
              s.ports[2] == 10,
          "round trip of %s", buf);
}

static void test_error_permission(void)
{
    fl_error err = {0};
    fl_status st =
        fl_usb_libusb_fail(&err, LIBUSB_ERROR_ACCESS, FL_USB_STEP_OPEN, "bus 1 port 4.2", NULL, 0);
    CHECK(st == FL_ERR_LINK, "status %d", st);
    CHECK(has(err.msg, "bus 1 port 4.2") && has(err.msg, "permission denied"), "%s", err.msg);
    CHECK(has(err.msg, "src/link/udev/60-flashline-ch341a.rules") &&
              has(err.msg, "/etc/udev/rules.d/60-flashline-ch341a.rules") &&
              has(err.msg, "udevadm control --reload && udevadm trigger") && has(err.msg, "replug"),
          "%s", err.msg);
    CHECK(one_line(err.msg), "%s", err.msg);
    /* the rule the message names exists in the tree */
    FILE *f = fopen(FL_USB_UDEV_RULE_SRC, "r");
    CHECK(f != NULL, "%s missing", FL_USB_UDEV_RULE_SRC);
    if (f) {
        char rule[4096];
        size_t n = fread(rule, 1, sizeof rule - 1, f);
        rule[n] = '\0';
        fclose(f);
        CHECK(has(rule, "ATTR{idVendor}==\"1a86\"") && has(rule, "ATTR{idProduct}==\"5512\"") &&
                  has(rule, "uaccess") && has(rule, "plugdev"),
              "rule content");
    }
}

static void test_error_busy_and_driver(void)
{
    fl_error err = {0};
    CHECK(fl_usb_libusb_fail(&err, LIBUSB_ERROR_BUSY, FL_USB_STEP_CLAIM, "bus 1 port 4", NULL, 0) ==
              FL_ERR_LINK,
          "busy status");
    CHECK(has(err.msg, "busy: another program (flashrom? ch341prog? a second flashline?) has it"),
          "%s", err.msg);
    CHECK(fl_usb_libusb_fail(&err, LIBUSB_ERROR_ACCESS, FL_USB_STEP_DETACH, "bus 1 port 4", "ch341",
                             0) == FL_ERR_LINK,
          "detach status");
    CHECK(has(err.msg, "claimed by kernel driver ch341:") && one_line(err.msg), "%s", err.msg);
    CHECK(fl_usb_libusb_fail(&err, LIBUSB_ERROR_NOT_FOUND, FL_USB_STEP_DETACH, "bus 1 port 4", NULL,
                             0) == FL_ERR_LINK,
          "detach, driver unknown");
    CHECK(has(err.msg, "claimed by kernel driver (unknown)"), "%s", err.msg);
}

static void test_error_transfer(void)
{
    static const int gone[] = {LIBUSB_ERROR_NO_DEVICE, LIBUSB_ERROR_IO, LIBUSB_ERROR_PIPE};
    fl_error err = {0};
    for (size_t i = 0; i < 3; i++) {
        CHECK(fl_usb_libusb_fail(&err, gone[i], FL_USB_STEP_TRANSFER, "bus 2 port 1", NULL, 1000) ==
                  FL_ERR_LINK,
              "code %d", gone[i]);
        CHECK(has(err.msg, "the programmer went away (unplugged?)") && one_line(err.msg), "%s",
              err.msg);
    }
    CHECK(fl_usb_libusb_fail(&err, LIBUSB_ERROR_TIMEOUT, FL_USB_STEP_TRANSFER, "bus 2 port 1", NULL,
                             1000) == FL_ERR_TIMEOUT,
          "timeout");
    CHECK(has(err.msg, "1000 ms"), "%s", err.msg);
    CHECK(fl_usb_libusb_fail(&err, LIBUSB_ERROR_NO_MEM, FL_USB_STEP_TRANSFER, "x", NULL, 0) ==
              FL_ERR_INTERNAL,
          "no mem");
    CHECK(fl_usb_libusb_fail(&err, LIBUSB_ERROR_OVERFLOW, FL_USB_STEP_TRANSFER, "x", NULL, 0) ==
              FL_ERR_PROTOCOL,
          "overflow");
    CHECK(fl_usb_libusb_fail(&err, LIBUSB_ERROR_OTHER, FL_USB_STEP_TRANSFER, "x", NULL, 0) ==
              FL_ERR_LINK,
          "other");
    CHECK(has(err.msg, "LIBUSB_ERROR_OTHER"), "names the libusb code: %s", err.msg);
}

static void test_transfer_status(void)
{
    CHECK_EQ_UINT(fl_usb_transfer_status_code(LIBUSB_TRANSFER_COMPLETED), LIBUSB_SUCCESS);
    CHECK(fl_usb_transfer_status_code(LIBUSB_TRANSFER_TIMED_OUT) == LIBUSB_ERROR_TIMEOUT, "t/o");
    CHECK(fl_usb_transfer_status_code(LIBUSB_TRANSFER_NO_DEVICE) == LIBUSB_ERROR_NO_DEVICE, "gone");
    CHECK(fl_usb_transfer_status_code(LIBUSB_TRANSFER_STALL) == LIBUSB_ERROR_PIPE, "stall");
    CHECK(fl_usb_transfer_status_code(LIBUSB_TRANSFER_OVERFLOW) == LIBUSB_ERROR_OVERFLOW, "ovf");
    CHECK(fl_usb_transfer_status_code(LIBUSB_TRANSFER_ERROR) == LIBUSB_ERROR_IO, "error");
    /* a transfer that ended in error reads as an unplug, as a sync call would */
    fl_error err = {0};
    CHECK(fl_usb_libusb_fail(&err, fl_usb_transfer_status_code(LIBUSB_TRANSFER_NO_DEVICE),
                             FL_USB_STEP_TRANSFER, "bus 1 port 1", NULL, 0) == FL_ERR_LINK &&
              has(err.msg, "went away"),
          "%s", err.msg);
}

/* How many CH341As this machine has (CI and containers: none). */
static size_t plugged_in(void)
{
    fl_usb_device_info *devs = NULL;
    size_t n = 99;
    fl_error err = {0};
    fl_status st = fl_usb_list(&devs, &n, &err);
    CHECK(st == FL_OK, "list: %s", err.msg);
    for (size_t i = 0; i < n && st == FL_OK; i++) {
        CHECK(!strncmp(devs[i].url, "ch341a:", 7), "url %s", devs[i].url);
        CHECK(devs[i].vid == 0x1a86 && devs[i].pid == 0x5512, "vid:pid");
    }
    free(devs);
    return st == FL_OK ? n : 0;
}

static void test_list_and_open_without_device(void)
{
    size_t n = plugged_in();
    if (n) {
        fprintf(stderr, "note: %zu CH341A plugged in: the 'none found' checks are skipped\n", n);
    } else {
        fl_usb *u = (fl_usb *)1;
        fl_error err = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        fl_status st = fl_usb_open("ch341a", &u, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK(st == FL_ERR_LINK && u == NULL, "open ch341a: %d", st);
        CHECK(has(err.msg, "no CH341A programmer found: plug it in with its jumper in the SPI/I2C "
                           "position, or see `flashline ports`") &&
                  one_line(err.msg),
              "%s", err.msg);
        /* "quickly": no retry loop; generous bound for a loaded machine */
        CHECK(t1.tv_sec - t0.tv_sec < 10, "took %ld s", (long)(t1.tv_sec - t0.tv_sec));

        CHECK(fl_usb_open("ch341a:", &u, &err) == FL_ERR_LINK && has(err.msg, "no CH341A"),
              "%s", err.msg);
        CHECK(fl_usb_open("ch341a:serial=NOPE", &u, &err) == FL_ERR_LINK &&
                  has(err.msg, "serial NOPE"),
              "%s", err.msg);
    }
    /* a path nothing sits at, on any machine */
    fl_usb *u = NULL;
    fl_error err = {0};
    CHECK(fl_usb_open("ch341a:255-255.255", &u, &err) == FL_ERR_LINK && u == NULL, "%s", err.msg);
    CHECK(has(err.msg, "no CH341A programmer at ch341a:255-255.255") && has(err.msg, "flashline ports"),
          "%s", err.msg);
    /* a malformed selector is a usage error before USB is touched */
    CHECK(fl_usb_open("ch341a:1-x", &u, &err) == FL_ERR_USAGE && u == NULL, "%s", err.msg);
    CHECK(has(err.msg, "'ch341a:1-x'"), "%s", err.msg);
}

int main(void)
{
    RUN(test_selector_forms);
    RUN(test_selector_malformed);
    RUN(test_path_format);
    RUN(test_error_permission);
    RUN(test_error_busy_and_driver);
    RUN(test_error_transfer);
    RUN(test_transfer_status);
    RUN(test_list_and_open_without_device);
    return testlib_finish();
}
