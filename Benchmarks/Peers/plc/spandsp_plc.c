/* spandsp's PLC under the same workload as `instructions plc`: 8 kHz, 20 ms frames, every fifth lost, the
   same speech-like signal (int16, as spandsp takes it). Prints the frames concealed. Build and count:
   cc -O2 spandsp_plc.c -lspandsp -lm -o spandsp_plc && valgrind --tool=callgrind ./spandsp_plc SECONDS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <spandsp.h>

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1;
    int16_t x[8000], frame[160];
    double phase = 0;
    for (int i = 0; i < 8000; i++) {
        double t = i / 8000.0;
        phase += 2 * M_PI * (140 + 40 * sin(2 * M_PI * 2 * t)) / 8000;
        x[i] = (int16_t) (32768 * (0.3 * sin(phase) + 0.1 * sin(3.1 * phase)));
    }
    plc_state_t *s = plc_init(NULL);
    int lost = 0;
    for (int c = 0; c < (int) (seconds * 50); c++) {
        int i = c % 50;
        if (c % 5 == 4) { plc_fillin(s, frame, 160); lost++; }
        else { for (int k = 0; k < 160; k++) frame[k] = x[i * 160 + k]; plc_rx(s, frame, 160); }
    }
    plc_free(s);
    printf("%d\n", lost);
    return 0;
}
