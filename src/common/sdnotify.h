/*
 * sdnotify: tells systemd how the service is doing (sd_notify's protocol,
 * without libsystemd): a datagram to the socket named by NOTIFY_SOCKET
 * ("READY=1", "STOPPING=1"). Nothing happens when the variable is unset
 * (not started by systemd); a failed send is logged.
 */
#ifndef SDNOTIFY_H
#define SDNOTIFY_H

void sdnotify(const char *msg);

#endif
