/* toolcall_cancel from another thread ends a call blocked in toolcall_call.
 *   cancel ADDRESS < LONG_TOOLS_JSON
 * A thread calls with a tool list whose prefill takes minutes and request_id "long"; the main
 * thread cancels it after a second. Prints what it checked; exit 0 when all held. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "toolcall.h"

/* A string that may be NULL, for printing. */
#define NAME(s) ((s) ? (s) : "(none)")

struct call {
    toolcall_client *client;
    const char *tools;
    char *result;
    toolcall_error error;
};

static void *run_call(void *arg) {
    struct call *call = arg;
    call->result = toolcall_call(call->client, call->tools, "turn on the light", "{\"request_id\": \"long\"}", &call->error);
    return NULL;
}

/* All of stdin, NUL-terminated (NULL on failure). */
static char *read_stdin(void) {
    size_t size = 0, capacity = 1 << 16;
    char *text = malloc(capacity);
    size_t got;
    while (text && (got = fread(text + size, 1, capacity - size - 1, stdin)) > 0) {
        size += got;
        if (capacity - size <= 1) text = realloc(text, capacity *= 2);
    }
    if (text) text[size] = '\0';
    return text;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s ADDRESS < LONG_TOOLS_JSON\n", argv[0]); return 2; }
    char *tools = read_stdin();
    if (!tools) { perror("stdin"); return 2; }
    toolcall_error error = {0};
    toolcall_client *client = toolcall_connect(TOOLCALL_BUS_ADDRESS, argv[1], &error);
    if (!client) { fprintf(stderr, "connect: %s: %s\n", error.name, error.message); return 3; }

    struct call call = {client, tools, NULL, {0}};
    pthread_t thread;
    if (pthread_create(&thread, NULL, run_call, &call) != 0) { perror("pthread_create"); return 2; }
    sleep(1);
    int found = toolcall_cancel(client, "long", &error);
    double asked = now();
    pthread_join(thread, NULL);
    double took = now() - asked;
    int failed = 0;
    if (found != 1) { fprintf(stderr, "cancel returned %d (%s)\n", found, NAME(error.name)); failed = 1; }
    if (call.result || !call.error.name || !strstr(call.error.name, "Error.Cancelled")) {
        fprintf(stderr, "the call was not cancelled: %s / %s\n", NAME(call.result), NAME(call.error.name));
        failed = 1;
    }
    if (took > 8.0) { fprintf(stderr, "the call ended %.1f s after cancel\n", took); failed = 1; }
    if (toolcall_cancel(client, "long", &error) != 0) { fprintf(stderr, "a second cancel found it\n"); failed = 1; }
    printf("cancel: found %d, call ended %.2f s later with %s\n", found, took, NAME(call.error.name));

    toolcall_string_free(call.result);
    toolcall_error_clear(&call.error);
    toolcall_error_clear(&error);
    toolcall_disconnect(client);
    free(tools);
    return failed;
}
