#include "formats/beken_rf.h"

#include <string.h>

fl_status fl_beken_rf_mac(const uint8_t *sector, size_t len, uint32_t offset, uint8_t mac[6],
                          fl_error *err)
{
    /* the MAC record's tag and length, right before the 6 bytes */
    static const uint8_t tag[8] = {0x02, 0x11, 0x11, 0x11, 0x06, 0x00, 0x00, 0x00};
    if (len < FL_BEKEN_RF_MAC_OFFSET + 6 || memcmp(sector, "TLV", 4) != 0 ||
        memcmp(sector + 0x1C, tag, 8) != 0)
        return fl_fail(err, FL_ERR_FORMAT, "no MAC record in the RF calibration sector at 0x%06X",
                       offset);
    memcpy(mac, sector + FL_BEKEN_RF_MAC_OFFSET, 6);
    return FL_OK;
}
