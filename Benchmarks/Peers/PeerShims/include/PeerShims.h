#ifndef PEER_SHIMS_H
#define PEER_SHIMS_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* The peer libraries behind one small C interface each, so the Swift driver needs no module map per library
   (spandsp's headers and SoundTouch's C++ API do not import into Swift as they are). */

void *peer_soxr_create(double input_rate, double output_rate);           /* soxr HQ, float32 */
size_t peer_soxr_process(void *r, const float *in, size_t in_count, float *out, size_t out_capacity);
void peer_soxr_delete(void *r);

void *peer_speex_create(int input_rate, int output_rate, int quality);  /* speexdsp, mono */
size_t peer_speex_process(void *r, const float *in, size_t in_count, float *out, size_t out_capacity);
void peer_speex_delete(void *r);

void *peer_g711_create(int ulaw);                                        /* spandsp G.711 */
int peer_g711_encode(void *s, uint8_t *codes, const int16_t *samples, int count);
int peer_g711_decode(void *s, int16_t *samples, const uint8_t *codes, int count);
void peer_g711_delete(void *s);

void *peer_sonic_create(int rate, float speed);                          /* libsonic, quality 0 */
int peer_sonic_process(void *s, const float *in, int in_count, float *out, int out_capacity);
void peer_sonic_delete(void *s);

void *peer_soundtouch_create(int rate, double tempo);                    /* SoundTouch, default settings */
int peer_soundtouch_process(void *s, const float *in, int in_count, float *out, int out_capacity);
void peer_soundtouch_delete(void *s);
#ifdef __cplusplus
}
#endif
#endif
