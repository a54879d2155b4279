/* Wine 8 has no bcryptprimitives.dll, whose ProcessPrng Rust's std calls for random
 * bytes: without it every Rust .exe fails to load (status c0000135). This stand-in,
 * copied into the test prefix's system32 by scripts/wine/run, gives the same bytes
 * through RtlGenRandom (advapi32's SystemFunction036), which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
