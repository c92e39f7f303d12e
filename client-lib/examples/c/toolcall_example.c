/* Minimal C client of toolcalld: one call, result JSON on stdout.
 *   cc -I /usr/include toolcall_example.c -ltoolcall -o toolcall_example   (after make install)
 *   ./toolcall_example ADDRESS TOOLS_JSON_FILE "QUERY"
 * ADDRESS is a D-Bus address, or "session" / "system". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolcall.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) { free(text); text = NULL; }
    if (text) text[n] = '\0';
    fclose(f);
    return text;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s ADDRESS|session|system TOOLS_JSON_FILE QUERY\n", argv[0]);
        return 2;
    }
    char *tools = read_file(argv[2]);
    if (!tools) { perror(argv[2]); return 2; }

    ToolcallBus bus = TOOLCALL_BUS_ADDRESS;
    if (strcmp(argv[1], "session") == 0) bus = TOOLCALL_BUS_SESSION;
    if (strcmp(argv[1], "system") == 0) bus = TOOLCALL_BUS_SYSTEM;

    char *error_name = NULL, *error_message = NULL;
    toolcall_client *client = toolcall_connect(bus, argv[1], &error_name, &error_message);
    if (!client) {
        fprintf(stderr, "connect: %s: %s\n", error_name, error_message);
        return 3;
    }
    char *result = toolcall_call(client, tools, argv[3], "{\"allow_empty\": false}", &error_name, &error_message);
    int status = 0;
    if (result) {
        printf("%s\n", result);
        toolcall_string_free(result);
    } else {
        fprintf(stderr, "%s: %s\n", error_name, error_message);
        toolcall_string_free(error_name);
        toolcall_string_free(error_message);
        status = 1;
    }
    toolcall_disconnect(client);
    free(tools);
    return status;
}
